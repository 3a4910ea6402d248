import CubeCore
import Foundation
import HTTPClient
import Testing

/// The retry policy against a real local HTTP server (curl transport end to end). Sleeps are
/// recorded instead of slept, so the waits the policy chose can be checked exactly.
@Suite(.timeLimit(.minutes(1))) struct RetryServerTests {
    final class Sleeps: @unchecked Sendable { var values: [TimeInterval] = [] }

    func client(_ sleeps: Sleeps, attempts: Int = 6) throws -> HTTPClient {
        try HTTPClient(configuration: .init(retry: RetryPolicy(maxAttempts: attempts, baseDelay: 0.25), timeout: 10),
                       sleep: { sleeps.values.append($0) }, unitRandom: { 0.5 })
    }

    @Test func retriesServiceUnavailableHonouringRetryAfter() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let server = try LocalServer.fake(in: dir)
        defer { server.stop() }
        let sleeps = Sleeps()
        let http = try client(sleeps)
        let response = try http.request(url: URL(string: "\(server.baseURL)/flaky/a?n=3")!)
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "ok")
        #expect(response.headers["content-type"] == "text/plain")
        #expect(sleeps.values == [1, 1, 1])  // Retry-After: 1, three times
        #expect(http.attemptCount == 4)
    }

    @Test func retryAfterAsHTTPDate() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let server = try LocalServer.fake(in: dir)
        defer { server.stop() }
        let sleeps = Sleeps()
        let response = try client(sleeps).request(url: URL(string: "\(server.baseURL)/flaky/d?n=1&date=1")!)
        #expect(response.status == 200)
        #expect(sleeps.values.count == 1)
        #expect((0.5...2.5).contains(sleeps.values[0]))  // the date is ~2 s ahead, at 1 s resolution
    }

    @Test func givesUpAfterMaxAttempts() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let server = try LocalServer.fake(in: dir)
        defer { server.stop() }
        let sleeps = Sleeps()
        do {
            _ = try client(sleeps, attempts: 3).request(url: URL(string: "\(server.baseURL)/flaky/b?n=10&token=s3cr3t")!)
            Issue.record("a persistent 503 succeeded")
        } catch let error as HTTPError {
            #expect(error.status == 503)
            #expect(error.attempts == 3)
            #expect(sleeps.values.count == 2)
            #expect(!error.description.contains("s3cr3t"))
            #expect(error.description.contains("token=REDACTED"))
        }
    }

    @Test func badRequestIsNotRetried() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let server = try LocalServer.fake(in: dir)
        defer { server.stop() }
        let sleeps = Sleeps()
        let http = try client(sleeps)
        do {
            _ = try http.request(url: URL(string: "\(server.baseURL)/bad")!)
            Issue.record("400 did not throw")
        } catch let error as HTTPError {
            #expect(error.status == 400)
            #expect(error.attempts == 1)
            #expect(error.description.contains("HTTP 400 from GET http://127.0.0.1"))
            #expect(error.bodyPrefix.hasPrefix("invalid bbox: xxx"))
            #expect(error.bodyPrefix.count == 201)  // 200 characters and an ellipsis
        }
        #expect(sleeps.values.isEmpty)
        #expect(http.attemptCount == 1)
    }

    @Test func refusedConnectionIsATransportErrorAfterRetries() throws {
        let port = try LocalServer.freeLoopbackPort()  // nothing listens there
        let sleeps = Sleeps()
        do {
            _ = try client(sleeps, attempts: 2).request(url: URL(string: "http://127.0.0.1:\(port)/x")!)
            Issue.record("a refused connection succeeded")
        } catch let error as HTTPError {
            guard case .transport = error.kind else { Issue.record("expected a transport error, got \(error)"); return }
            #expect(error.attempts == 2)
            #expect(sleeps.values == [0.125])  // full jitter: 0.5 × base 0.25
        }
    }
}
