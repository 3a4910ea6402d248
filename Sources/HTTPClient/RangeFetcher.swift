import CCurl
import Foundation
import Synchronization

/// Fetches byte ranges of a URL in parallel requests straight into caller-owned memory: no
/// per-request buffers, keep-alive connections between calls, large receive chunks. Made for
/// reading stored COG tiles, which are megabytes each and many per chunk. No retries: callers
/// fall back to a slower, retrying path on any failure. Not thread-safe: one per thread.
public final class RangeFetcher {
    private let pool: OpaquePointer
    /// Abort a transfer that receives nothing for this long.
    public var stallSeconds = 30
    public var connectTimeoutMilliseconds = 20_000

    /// Body bytes fetched by every fetcher of the process (for job records).
    public static var totalBytes: Int { counter.withLock { $0.bytes } }
    /// Range requests sent by every fetcher of the process (`ParallelFetcher`s included).
    public static var totalRequests: Int { counter.withLock { $0.requests } }
    private static let counter = Mutex((bytes: 0, requests: 0))
    static func count(bytes: Int, requests: Int) { counter.withLock { $0.bytes += bytes; $0.requests += requests } }

    public init(maxParallel: Int = 8) throws {
        _ = curlGlobalInit
        guard let pool = ccurl_pool_open(Int32(maxParallel)) else {
            throw TransportError(code: -1, message: "libcurl could not create a connection pool", isRetryable: false)
        }
        self.pool = pool
    }

    deinit { ccurl_pool_close(pool) }

    /// Fills `buffers[i]` with `sizes[i]` bytes at `offsets[i]` of `url`; throws on any error,
    /// short answer or ignored range.
    public func fetch(url: String, offsets: [UInt64], sizes: [Int], into buffers: [UnsafeMutableRawPointer]) throws {
        precondition(offsets.count == sizes.count && sizes.count == buffers.count)
        guard !offsets.isEmpty else { return }
        var ranges = (0..<offsets.count).map { i in
            ccurl_range(offset: offsets[i], size: sizes[i],
                        dest: buffers[i].assumingMemoryBound(to: UInt8.self), status: 0, curl_code: 0, received: 0)
        }
        var error = [CChar](repeating: 0, count: 512)
        let failed = ccurl_fetch_ranges(pool, url, &ranges, ranges.count, connectTimeoutMilliseconds,
                                        stallSeconds, &error, error.count)
        Self.count(bytes: ranges.reduce(0) { $0 + $1.received }, requests: ranges.count)
        if failed != 0 {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TransportError(code: -1, message: "\(URLRedaction.redact(url)): \(message)", isRetryable: true)
        }
    }
}

