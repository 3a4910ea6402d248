import CCurl
import Foundation

/// One byte range to fetch, with what the caller expects of the object (from an index): an
/// answer whose object size or ETag differs means the object changed since it was indexed.
public struct RangeRequest: Sendable {
    public var url: String
    public var offset: UInt64
    public var size: Int
    public var expectedObjectSize: UInt64?
    public var expectedETag: String?
    /// AWS SigV4 signing (`s3://` objects through their HTTP endpoint), nil for plain http(s).
    public var signing: RequestSigning?
    public var headers: [String]

    public init(url: String, offset: UInt64, size: Int, expectedObjectSize: UInt64? = nil, expectedETag: String? = nil,
                signing: RequestSigning? = nil, headers: [String] = []) {
        self.url = url
        self.offset = offset
        self.size = size
        self.expectedObjectSize = expectedObjectSize
        self.expectedETag = expectedETag
        self.signing = signing
        self.headers = headers
    }
}

/// How one range ended.
public enum RangeOutcome: Sendable, Equatable {
    /// Complete; the object's size (0 when the server did not say) and ETag ("" when none).
    /// `received` is the range's size, or less when the range ran past the object's end.
    case ok(objectSize: UInt64, etag: String, received: Int)
    /// The object is not the one indexed (size or ETag differ): its layout cannot be trusted.
    case changed(String)
    /// No usable answer. `transient`: the network or the server (5xx, 429, no answer), worth
    /// another attempt; otherwise the object is missing or refuses ranges.
    case failed(String, transient: Bool)

    /// A failure another attempt may not meet.
    public var isTransient: Bool {
        if case .failed(_, let transient) = self { return transient }
        return false
    }
}

/// Many byte ranges of many URLs, all in flight together on a pool of keep-alive connections
/// (HTTP/2 where a TLS server offers it), each reported as soon as it completes, so callers can
/// decode while the rest downloads. Not thread-safe: one per thread.
public final class ParallelFetcher {
    private let pool: OpaquePointer
    public let maxParallel: Int
    public var stallSeconds = 30
    public var connectTimeoutMilliseconds = 20_000

    public init(maxParallel: Int = 32) throws {
        _ = curlGlobalInit
        self.maxParallel = max(1, maxParallel)
        guard let pool = ccurl_pool_open(Int32(self.maxParallel)) else {
            throw TransportError(code: -1, message: "libcurl could not create a connection pool", isRetryable: false)
        }
        self.pool = pool
    }

    deinit { ccurl_pool_close(pool) }

    /// Fetches `requests[i]` into `buffers[i]` (at least `size` bytes each) and calls
    /// `onDone(i, outcome)` on this thread as each one ends, in completion order.
    public func fetch(_ requests: [RangeRequest], into buffers: [UnsafeMutableRawPointer],
                      onDone: (Int, RangeOutcome) -> Void) {
        precondition(requests.count == buffers.count)
        guard !requests.isEmpty else { return }
        // C strings that live as long as the transfer.
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        func c(_ s: String) -> UnsafeMutablePointer<CChar> {
            let p = strdup(s)!
            strings.append(p)
            return p
        }
        var headerArrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []
        defer { headerArrays.forEach { $0.deallocate() } }
        var ranges = [ccurl_many_range](repeating: ccurl_many_range(), count: requests.count)
        for (i, r) in requests.enumerated() {
            ranges[i].url = UnsafePointer(c(r.url))
            ranges[i].offset = r.offset
            ranges[i].size = r.size
            ranges[i].dest = buffers[i].assumingMemoryBound(to: UInt8.self)
            var headers = r.headers
            if case .awsSigV4(let provider, let key, let secret, let token)? = r.signing {
                ranges[i].aws_sigv4 = UnsafePointer(c(provider))
                ranges[i].userpwd = UnsafePointer(c("\(key):\(secret)"))
                if let token { headers.append("x-amz-security-token: \(token)") }
            }
            if !headers.isEmpty {
                let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: headers.count)
                for (h, text) in headers.enumerated() { array[h] = UnsafePointer(c(text)) }
                headerArrays.append(array)
                ranges[i].headers = UnsafePointer(array)
                ranges[i].header_count = headers.count
            }
        }
        final class Context {
            let requests: [RangeRequest]
            let onDone: (Int, RangeOutcome) -> Void
            let ranges: UnsafeMutablePointer<ccurl_many_range>
            var reported: [Bool]
            var bytes = 0
            init(_ requests: [RangeRequest], _ ranges: UnsafeMutablePointer<ccurl_many_range>,
                 _ onDone: @escaping (Int, RangeOutcome) -> Void) {
                self.requests = requests
                self.ranges = ranges
                self.onDone = onDone
                reported = [Bool](repeating: false, count: requests.count)
            }
        }
        withoutActuallyEscaping(onDone) { onDone in
            ranges.withUnsafeMutableBufferPointer { buf in
                let context = Context(requests, buf.baseAddress!, onDone)
                let unmanaged = Unmanaged.passRetained(context)
                defer { unmanaged.release() }
                let failed = ccurl_fetch_many(pool, buf.baseAddress, buf.count, connectTimeoutMilliseconds, stallSeconds,
                                              { ctx, index in
                    let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
                    let i = Int(index)
                    context.reported[i] = true
                    context.bytes += context.ranges[i].received
                    context.onDone(i, ParallelFetcher.outcome(context.ranges[i], context.requests[i]))
                }, unmanaged.toOpaque())
                RangeFetcher.count(bytes: context.bytes, requests: context.requests.count)
                if failed != 0 {
                    for i in context.requests.indices where !context.reported[i] {
                        context.onDone(i, .failed("curl multi error", transient: true))
                    }
                }
            }
        }
    }

    static func outcome(_ r: ccurl_many_range, _ request: RangeRequest) -> RangeOutcome {
        let where_ = "\(URLRedaction.redact(request.url)) bytes \(request.offset)+\(request.size)"
        // A 4xx answer's body may overflow the range buffer (a write error): the status decides.
        if r.status >= 400 && r.status < 500 && r.status != 429 && r.status != 416 {
            return .failed("\(where_): HTTP \(r.status)", transient: false)
        }
        if r.curl_code != 0 {
            let message = String(cString: curl_easy_strerror_shim(r.curl_code))
            return .failed("\(where_): \(message)", transient: true)
        }
        let etag = withUnsafeBytes(of: r.etag) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        // The object changed? Checked before the status: a shorter object answers 416.
        if let expected = request.expectedObjectSize, r.total != 0, r.total != expected {
            return .changed("\(where_): the object is \(r.total) bytes, indexed as \(expected)")
        }
        if let expected = request.expectedETag, !expected.isEmpty, !etag.isEmpty, etag != expected {
            return .changed("\(where_): ETag \(etag), indexed as \(expected)")
        }
        if r.ok == 0 {
            let status = Int(r.status)
            if status == 416, request.expectedObjectSize != nil {
                return .changed("\(where_): range not satisfiable (the object shrank since it was indexed)")
            }
            let transient = status == 0 || status == 429 || status >= 500
            if status == 200 || status == 206 {
                return .failed("\(where_): HTTP \(status), \(r.received) of \(request.size) bytes (range ignored?)", transient: false)
            }
            return .failed("\(where_): HTTP \(status)", transient: transient)
        }
        return .ok(objectSize: r.total, etag: etag, received: r.received)
    }
}
