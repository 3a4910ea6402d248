import CubeCore
import Foundation

/// A small synchronous HTTP client with retries.
///
/// One client owns one transport (by default one libcurl easy handle), so consecutive requests
/// reuse connections. A client is NOT thread-safe: use it from one thread at a time, and give
/// each worker thread its own client.
public final class HTTPClient {
    public struct Configuration: Sendable {
        public var retry: RetryPolicy
        /// Whole-request timeout when a request does not set its own.
        public var timeout: TimeInterval
        public var connectTimeout: TimeInterval
        public var userAgent: String
        public var signing: RequestSigning?

        public init(retry: RetryPolicy = RetryPolicy(), timeout: TimeInterval = 120, connectTimeout: TimeInterval = 20,
                    userAgent: String = "cube/0.1", signing: RequestSigning? = nil) {
            self.retry = retry
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.userAgent = userAgent
            self.signing = signing
        }
    }

    public let configuration: Configuration
    private let transport: HTTPTransport
    private let sleep: (TimeInterval) -> Void
    private let unitRandom: () -> Double
    private let now: () -> Date

    /// Counters for job logs and tests.
    public private(set) var attemptCount = 0
    public private(set) var retryCount = 0

    /// `sleep`, `unitRandom` (uniform in [0, 1)) and `now` are injectable so tests run without waiting.
    public init(configuration: Configuration = Configuration(), transport: HTTPTransport? = nil,
                sleep: @escaping (TimeInterval) -> Void = { Thread.sleep(forTimeInterval: $0) },
                unitRandom: @escaping () -> Double = { Double.random(in: 0..<1) },
                now: @escaping () -> Date = { Date() }) throws {
        self.configuration = configuration
        self.transport = try transport ?? CurlTransport()
        self.sleep = sleep
        self.unitRandom = unitRandom
        self.now = now
    }

    /// Sends a request, retrying per the policy, and returns a 2xx response.
    /// Throws `HTTPError` for any other final outcome.
    /// `maxResponseBytes` caps the body held in memory (the request fails past it).
    public func request(method: String = "GET", url: URL, headers: HTTPHeaders = HTTPHeaders(),
                        body: Data? = nil, timeout: TimeInterval? = nil, maxResponseBytes: Int? = nil) throws -> HTTPResponse {
        var req = HTTPRequest(method: method, url: url, headers: headers, body: body,
                              timeout: timeout ?? configuration.timeout,
                              connectTimeout: configuration.connectTimeout, signing: configuration.signing,
                              maxResponseBytes: maxResponseBytes)
        if !req.headers.contains("User-Agent") { req.headers.add("User-Agent", configuration.userAgent) }
        return try send(req)
    }

    /// POSTs a JSON body and asks for JSON back.
    public func postJSON(url: URL, body: Data, headers: HTTPHeaders = HTTPHeaders(),
                         timeout: TimeInterval? = nil, maxResponseBytes: Int? = nil) throws -> HTTPResponse {
        var all = headers
        if !all.contains("Content-Type") { all.add("Content-Type", "application/json") }
        if !all.contains("Accept") { all.add("Accept", "application/geo+json, application/json") }
        return try request(method: "POST", url: url, headers: all, body: body, timeout: timeout,
                           maxResponseBytes: maxResponseBytes)
    }

    private func send(_ req: HTTPRequest) throws -> HTTPResponse {
        let policy = configuration.retry
        var waited: TimeInterval = 0
        var attempt = 0
        while true {
            attempt += 1
            attemptCount += 1
            let outcome: Result<HTTPResponse, TransportError>
            do {
                outcome = .success(try transport.perform(req))
            } catch let error as TransportError {
                outcome = .failure(error)
            }

            let retryable: Bool
            var retryAfter: TimeInterval?
            switch outcome {
            case .success(let response) where response.isSuccess:
                return response
            case .success(let response):
                retryable = policy.retryStatuses.contains(response.status)
                retryAfter = RetryAfter.seconds(from: response.headers["Retry-After"], now: now())
            case .failure(let error):
                retryable = error.isRetryable
            }

            guard retryable, attempt < policy.maxAttempts else {
                throw failure(outcome, req, attempts: attempt, budgetSpent: false)
            }
            let delay = policy.delay(beforeRetry: attempt, retryAfter: retryAfter, unitRandom: unitRandom())
            guard waited + delay <= policy.maxTotalDelay else {
                throw failure(outcome, req, attempts: attempt, budgetSpent: true)
            }
            if delay > 0 { sleep(delay) }
            waited += delay
            retryCount += 1
        }
    }

    private func failure(_ outcome: Result<HTTPResponse, TransportError>, _ req: HTTPRequest,
                         attempts: Int, budgetSpent: Bool) -> HTTPError {
        let url = URLRedaction.redact(req.url)
        switch outcome {
        case .success(let response):
            return HTTPError(kind: .status(response.status), method: req.method, redactedURL: url,
                             bodyPrefix: HTTPError.prefix(of: response.body), attempts: attempts,
                             retryBudgetExhausted: budgetSpent)
        case .failure(let error):
            return HTTPError(kind: .transport(code: error.code, message: error.message), method: req.method,
                             redactedURL: url, bodyPrefix: "", attempts: attempts, retryBudgetExhausted: budgetSpent,
                             transportTransient: error.isRetryable)
        }
    }
}
