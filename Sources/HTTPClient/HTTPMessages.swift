import Foundation

/// One HTTP request as handed to a transport.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: HTTPHeaders
    public var body: Data?
    /// Whole-request timeout in seconds (nil = the client's default).
    public var timeout: TimeInterval?
    public var connectTimeout: TimeInterval?
    /// How to sign the request (nil = unsigned).
    public var signing: RequestSigning?
    /// The transfer fails (not retried) once the body grows past this many bytes; nil = no cap.
    public var maxResponseBytes: Int?

    public init(method: String = "GET", url: URL, headers: HTTPHeaders = HTTPHeaders(), body: Data? = nil,
                timeout: TimeInterval? = nil, connectTimeout: TimeInterval? = nil, signing: RequestSigning? = nil,
                maxResponseBytes: Int? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.signing = signing
        self.maxResponseBytes = maxResponseBytes
    }
}

/// A response of any status; `HTTPClient.request` only returns 2xx ones.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// A request that got no HTTP response at all (DNS, connect, TLS, timeout, reset...).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// libcurl's CURLcode (or any transport-specific code).
    public var code: Int
    public var message: String
    /// Whether trying again can help (timeouts, resets) or not (malformed URL, bad protocol).
    public var isRetryable: Bool

    public init(code: Int, message: String, isRetryable: Bool) {
        self.code = code
        self.message = message
        self.isRetryable = isRetryable
    }

    public var description: String { "transport error \(code): \(message)" }
}

/// Performs exactly one attempt of a request. Retries live in `HTTPClient`, so tests can
/// inject a scripted transport.
public protocol HTTPTransport: AnyObject {
    /// Returns the response (any status) or throws `TransportError` when none arrived.
    func perform(_ request: HTTPRequest) throws -> HTTPResponse
}
