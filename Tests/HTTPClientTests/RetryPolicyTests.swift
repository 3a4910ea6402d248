import CubeCore
import Foundation
import Testing
@testable import HTTPClient

/// A transport that plays back a script of outcomes and records what it was asked.
final class ScriptedTransport: HTTPTransport {
    var script: [Result<HTTPResponse, TransportError>]
    var requests: [HTTPRequest] = []

    init(_ script: [Result<HTTPResponse, TransportError>]) { self.script = script }

    func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        requests.append(request)
        guard !script.isEmpty else { throw TransportError(code: -1, message: "script exhausted", isRetryable: false) }
        return try script.removeFirst().get()
    }
}

func status(_ code: Int, _ headers: HTTPHeaders = HTTPHeaders(), body: String = "") -> Result<HTTPResponse, TransportError> {
    .success(HTTPResponse(status: code, headers: headers, body: Data(body.utf8)))
}

let timeout = Result<HTTPResponse, TransportError>.failure(TransportError(code: 28, message: "Operation timed out", isRetryable: true))

@Suite struct RetryPolicyTests {
    final class Recorder { var sleeps: [TimeInterval] = [] }

    func client(_ script: [Result<HTTPResponse, TransportError>], policy: RetryPolicy = RetryPolicy(baseDelay: 1, maxDelay: 8),
                random: Double = 1) throws -> (HTTPClient, ScriptedTransport, Recorder) {
        let transport = ScriptedTransport(script)
        let recorder = Recorder()
        let c = try HTTPClient(configuration: .init(retry: policy), transport: transport,
                               sleep: { recorder.sleeps.append($0) }, unitRandom: { random },
                               now: { Date(timeIntervalSince1970: 1_000_000) })
        return (c, transport, recorder)
    }

    let url = URL(string: "https://user:pw@example.com/search?X-Amz-Signature=abc&page=2")!

    @Test func fullJitterBackoffDoublesUpToTheCap() throws {
        let (c, t, r) = try client([status(500), status(502), timeout, status(504), status(429), status(200)])
        let response = try c.request(url: url)
        #expect(response.status == 200)
        #expect(t.requests.count == 6)
        #expect(r.sleeps == [1, 2, 4, 8, 8])  // unitRandom 1 → the ceiling itself
        #expect(c.retryCount == 5)
    }

    @Test func jitterScalesTheCeiling() {
        let p = RetryPolicy(baseDelay: 2, maxDelay: 100)
        #expect(p.delay(beforeRetry: 3, retryAfter: nil, unitRandom: 0.25) == 2)  // 0.25 × 8
        #expect(p.delay(beforeRetry: 3, retryAfter: nil, unitRandom: 0) == 0)
        #expect(p.delay(beforeRetry: 1, retryAfter: 7, unitRandom: 0) == 7)
    }

    @Test func retryAfterSecondsAndDateWin() throws {
        let date = "Mon, 12 Jan 1970 13:47:00 GMT"  // 1_000_020 s after the epoch: 20 s after `now`
        let (c, _, r) = try client([status(503, ["Retry-After": "3"]), status(429, ["retry-after": date]), status(200)])
        _ = try c.request(url: url)
        #expect(r.sleeps == [3, 20])
    }

    @Test func otherClientErrorsAreNotRetried() throws {
        let (c, t, r) = try client([status(404, body: "no such collection"), status(200)])
        do {
            _ = try c.request(url: url)
            Issue.record("404 did not throw")
        } catch let e as HTTPError {
            #expect(e.status == 404)
            #expect(e.attempts == 1)
            #expect(e.bodyPrefix == "no such collection")
            #expect(e.description.contains("HTTP 404 from GET https://REDACTED@example.com/search?X-Amz-Signature=REDACTED&page=2"))
            #expect(!e.description.contains("pw"))
        }
        #expect(t.requests.count == 1 && r.sleeps.isEmpty)
    }

    @Test func totalDelayBudgetStopsRetrying() throws {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 1, maxDelay: 8, maxTotalDelay: 5)
        let (c, t, r) = try client([status(503), status(503), status(503), status(503)], policy: policy)
        do {
            _ = try c.request(url: url)
            Issue.record("exhausted budget did not throw")
        } catch let e as HTTPError {
            #expect(e.retryBudgetExhausted)
            #expect(e.attempts == 3)  // waits 1 + 2 = 3; the next 4 would pass 5
        }
        #expect(r.sleeps == [1, 2])
        #expect(t.requests.count == 3)
    }

    @Test func retryAfterBeyondTheBudgetIsNotWaitedFor() throws {
        let (c, _, r) = try client([status(503, ["Retry-After": "3600"]), status(200)])
        #expect(throws: HTTPError.self) { try c.request(url: url) }
        #expect(r.sleeps.isEmpty)
    }

    @Test func permanentTransportErrorsAreNotRetried() throws {
        let bad = Result<HTTPResponse, TransportError>.failure(TransportError(code: 3, message: "URL malformed", isRetryable: false))
        let (c, t, _) = try client([bad, status(200)])
        do {
            _ = try c.request(url: url)
            Issue.record("malformed URL succeeded")
        } catch let e as HTTPError {
            #expect(e.kind == .transport(code: 3, message: "URL malformed"))
        }
        #expect(t.requests.count == 1)
        #expect(!CurlTransport.isRetryable(curlCode: 3) && CurlTransport.isRetryable(curlCode: 28) && CurlTransport.isRetryable(curlCode: 7))
    }

    @Test func requestCarriesDefaultsAndSigning() throws {
        let transport = ScriptedTransport([status(200)])
        let signing = RequestSigning.awsSigV4(provider: "aws:amz:eu-central-1:s3", accessKeyID: "AK", secretAccessKey: "SK", sessionToken: nil)
        let c = try HTTPClient(configuration: .init(timeout: 42, signing: signing), transport: transport, sleep: { _ in })
        _ = try c.postJSON(url: url, body: Data("{}".utf8))
        let sent = try #require(transport.requests.first)
        #expect(sent.method == "POST")
        #expect(sent.timeout == 42)
        #expect(sent.headers["content-type"] == "application/json")
        #expect(sent.headers["user-agent"] == "cube/0.1")
        guard case .awsSigV4(let provider, _, _, _)? = sent.signing else { Issue.record("signing lost"); return }
        #expect(provider == "aws:amz:eu-central-1:s3")
    }
}

@Suite struct HeaderAndRedactionTests {
    @Test func lastResponseHeadersWinAfterRedirects() {
        let raw = "HTTP/1.1 301 Moved\r\nLocation: /b\r\nX-Old: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nX-Dup: a\r\nx-dup: b\r\n\r\n"
        let h = HTTPHeaders.parseRawBlock(raw)
        #expect(h["CONTENT-TYPE"] == "application/json")
        #expect(h["x-old"] == nil)
        #expect(h["X-DUP"] == "a")
        #expect(h.fields.count == 3)
    }

    @Test func redactsSecretsOnly() {
        #expect(URLRedaction.redact("https://a.com/x?token=t0k&limit=10&api_key=k") == "https://a.com/x?token=REDACTED&limit=10&api_key=REDACTED")
        #expect(URLRedaction.redact("https://bob:hunter2@a.com/") == "https://REDACTED@a.com/")
        #expect(URLRedaction.redact("https://a.com/search?collections=s2") == "https://a.com/search?collections=s2")
    }

    @Test func retryAfterParsing() {
        let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.seconds(from: "120", now: now) == 120)
        #expect(RetryAfter.seconds(from: "Sun, 06 Nov 1994 08:50:37 GMT", now: now) == 60)
        #expect(RetryAfter.seconds(from: "Sun, 06 Nov 1994 08:40:00 GMT", now: now) == 0)  // in the past
        #expect(RetryAfter.seconds(from: "soon", now: now) == nil)
        #expect(RetryAfter.seconds(from: "-5", now: now) == nil)
        #expect(RetryAfter.seconds(from: nil, now: now) == nil)
    }

    @Test func bodyPrefixIsOneShortLine() {
        let long = Data(("line one\nline two " + String(repeating: "é", count: 300)).utf8)
        let p = HTTPError.prefix(of: long)
        #expect(p.hasPrefix("line one line two é"))
        #expect(p.count == 201 && p.hasSuffix("…"))
        #expect(!p.contains("\n"))
    }

    /// The one backoff behind every retry loop: the ceiling doubles from baseDelay up to
    /// maxDelay, the jittered wait stays within ±25 % of it.
    @Test func jitteredDelaysFollowTheCeiling() {
        #expect((1...6).map { RetryPolicy.jobs.ceiling(beforeRetry: $0) } == [2, 4, 8, 16, 32, 60])
        #expect((1...4).map { RetryPolicy.scenes.ceiling(beforeRetry: $0) } == [0.25, 0.5, 1, 2])
        #expect(RetryPolicy.workerJobs.ceiling(beforeRetry: 10) == 30)
        #expect(RetryPolicy.schedulerCommands.ceiling(beforeRetry: 5) == 10)
        for retry in 1...8 {
            let c = RetryPolicy.jobs.ceiling(beforeRetry: retry)
            #expect(RetryPolicy.jobs.jitteredDelay(beforeRetry: retry, unitRandom: 0) == c * 0.75)
            #expect(RetryPolicy.jobs.jitteredDelay(beforeRetry: retry, unitRandom: 1) == c * 1.25)
            let d = RetryPolicy.jobs.jitteredDelay(beforeRetry: retry)
            #expect(d >= c * 0.75 && d <= c * 1.25)
        }
    }
}
