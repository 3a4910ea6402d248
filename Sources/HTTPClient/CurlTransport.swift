import CCurl
import Foundation

/// libcurl must be initialised once per process before any handle is made; a global `let`
/// initialiser runs exactly once, thread-safely.
let curlGlobalInit: Void = { ccurl_global_init() }()

/// One libcurl easy handle, reused across requests so connections (and TLS sessions) are
/// kept alive. Not thread-safe: use one transport from one thread at a time.
public final class CurlTransport: HTTPTransport {
    private let handle: OpaquePointer

    public init() throws {
        _ = curlGlobalInit
        guard let handle = ccurl_open() else {
            throw TransportError(code: -1, message: "libcurl could not create an easy handle", isRetryable: false)
        }
        self.handle = handle
    }

    deinit { ccurl_close(handle) }

    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        var headerLines = request.headers.fields.map { "\($0.name): \($0.value)" }
        // curl would otherwise wait for `100 Continue` on larger bodies, which some servers never send.
        if request.body != nil, !request.headers.contains("Expect") { headerLines.append("Expect:") }
        var provider: String?
        var userpwd: String?
        if case .awsSigV4(let p, let key, let secret, let token)? = request.signing {
            provider = p
            userpwd = "\(key):\(secret)"
            if let token { headerLines.append("x-amz-security-token: \(token)") }
        }

        // C strings owned here for the duration of the call.
        var owned: [UnsafeMutablePointer<CChar>] = []
        defer { owned.forEach { free($0) } }
        func cString(_ s: String?) -> UnsafePointer<CChar>? {
            guard let s, let p = strdup(s) else { return nil }
            owned.append(p)
            return UnsafePointer(p)
        }
        let headerPointers: [UnsafePointer<CChar>?] = headerLines.map { cString($0) }
        let method = cString(request.method)
        let url = cString(request.url.absoluteString)
        let sigv4 = cString(provider)
        let credentials = cString(userpwd)

        var response = ccurl_response()
        let body = request.body ?? Data()
        let rc: Int32 = headerPointers.withUnsafeBufferPointer { headers in
            body.withUnsafeBytes { bytes in
                var req = ccurl_request()
                req.method = method
                req.url = url
                req.headers = headers.baseAddress
                req.header_count = headers.count
                req.body = request.body == nil ? nil : bytes.bindMemory(to: UInt8.self).baseAddress
                req.body_length = request.body == nil ? 0 : bytes.count
                req.timeout_ms = milliseconds(request.timeout)
                req.connect_timeout_ms = milliseconds(request.connectTimeout)
                req.aws_sigv4 = sigv4
                req.userpwd = credentials
                req.max_body_bytes = max(0, request.maxResponseBytes ?? 0)
                return ccurl_perform(handle, &req, &response)
            }
        }
        defer { ccurl_response_free(&response) }

        if rc != 0, response.body_limit_hit != 0 {
            throw TransportError(code: Int(rc), message: "response body exceeds \(request.maxResponseBytes ?? 0) bytes",
                                 isRetryable: false)
        }
        if rc != 0 {
            let message = withUnsafeBytes(of: response.error) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw TransportError(code: Int(rc), message: message, isRetryable: Self.isRetryable(curlCode: rc))
        }
        let data = response.body.map { Data(bytes: $0, count: response.body_length) } ?? Data()
        let rawHeaders = response.headers.map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: response.headers_length), as: UTF8.self)
        } ?? ""
        return HTTPResponse(status: Int(response.status), headers: HTTPHeaders.parseRawBlock(rawHeaders), body: data)
    }

    private func milliseconds(_ seconds: TimeInterval?) -> Int {
        guard let seconds, seconds > 0, seconds.isFinite else { return 0 }
        return Int(min(seconds * 1000, Double(Int32.max)).rounded(.up))
    }

    /// CURLcodes that no retry can fix; everything else (timeouts, resets, DNS hiccups,
    /// refused connections) may pass on the next attempt.
    static func isRetryable(curlCode: Int32) -> Bool {
        let permanent: Set<Int32> = [
            1,   // CURLE_UNSUPPORTED_PROTOCOL
            2,   // CURLE_FAILED_INIT
            3,   // CURLE_URL_MALFORMAT
            4,   // CURLE_NOT_BUILT_IN
            43,  // CURLE_BAD_FUNCTION_ARGUMENT
            47,  // CURLE_TOO_MANY_REDIRECTS
            48,  // CURLE_UNKNOWN_OPTION
            58,  // CURLE_SSL_CERTPROBLEM
            60,  // CURLE_PEER_FAILED_VERIFICATION
            77,  // CURLE_SSL_CACERT_BADFILE
        ]
        return !permanent.contains(curlCode)
    }
}
