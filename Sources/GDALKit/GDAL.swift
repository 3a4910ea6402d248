import CGDAL
import Foundation

/// Process-wide GDAL setup. GDAL must register its drivers once before any dataset is opened;
/// cloud-friendly defaults make `/vsicurl/` reads cheap (no directory listing on open, merged
/// range requests, retries).
public enum GDAL {
    private static let once: Void = {
        GDALAllRegister()
        // Quiet: errors are surfaced through GDALError, not stderr. The handler keeps the last
        // few messages of each thread, because the last one alone often hides the cause
        // ("TIFFReadEncodedTile() failed" after "CURL error: Connection reset").
        CPLSetErrorHandler(recordError)
        for (key, value) in cloudDefaults where CPLGetConfigOption(key, nil) == nil {
            CPLSetConfigOption(key, value)
        }
    }()

    /// The settings odc-stac's `configure_rio(cloud_defaults=True)` uses, plus retries.
    public static let cloudDefaults: [(String, String)] = [
        ("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR"),
        ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".tif,.tiff,.TIF,.TIFF,.jp2,.vrt"),
        ("GDAL_HTTP_MULTIRANGE", "YES"),
        ("GDAL_HTTP_MERGE_CONSECUTIVE_RANGES", "YES"),
        ("GDAL_HTTP_MULTIPLEX", "YES"),
        ("GDAL_HTTP_VERSION", "2"),
        ("GDAL_HTTP_MAX_RETRY", "5"),
        ("GDAL_HTTP_RETRY_DELAY", "0.5"),
        ("VSI_CACHE", "TRUE"),
        ("GDAL_CACHEMAX", "256"),
    ]

    /// Call before using any GDAL API; cheap after the first call.
    public static func initialize() { _ = once }

    public static var version: String {
        String(cString: GDALVersionInfo("RELEASE_NAME"))
    }

    /// Forgets what `/vsicurl/` learnt about remote files (sizes, existence, cached blocks),
    /// so files are looked up afresh after a network outage instead of failing from cache.
    public static func clearNetworkCache() {
        initialize()
        VSICurlClearCache()
    }

    /// `clearNetworkCache` for one file (a GDAL path such as `/vsicurl/https://…`).
    public static func clearNetworkCache(path: String) {
        initialize()
        VSICurlPartialClearCache(path)
    }

    public static func setConfig(_ key: String, _ value: String?) {
        CPLSetConfigOption(key, value)
    }

    /// The recent GDAL error messages on this thread (oldest first, distinct), cleared after
    /// reading; falls back to GDAL's last error message.
    static func takeLastError() -> String {
        let last = String(cString: CPLGetLastErrorMsg())
        CPLErrorReset()
        var recent = RecentErrors.take()
        if recent.isEmpty && !last.isEmpty { recent = [last] }
        return recent.joined(separator: " / ")
    }
}

/// Per-thread ring of the last GDAL warnings and errors.
enum RecentErrors {
    static let key = "cube.gdal.recent-errors"
    static let capacity = 4

    static func add(_ message: String) {
        let dict = Thread.current.threadDictionary
        var list = dict[key] as? [String] ?? []
        if list.last == message { return }
        list.append(message)
        if list.count > capacity { list.removeFirst(list.count - capacity) }
        dict[key] = list
    }

    static func take() -> [String] {
        let dict = Thread.current.threadDictionary
        let list = dict[key] as? [String] ?? []
        dict.removeObject(forKey: key)
        return list
    }

    /// Forgets messages left over from earlier, unrelated calls.
    static func clear() { Thread.current.threadDictionary.removeObject(forKey: key) }
}

private func recordError(_ level: CPLErr, _ number: CPLErrorNum, _ message: UnsafePointer<CChar>?) {
    guard level.rawValue >= CE_Warning.rawValue, let message else { return }
    RecentErrors.add(String(cString: message))
}

public struct GDALError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// A network or server failure (GDAL's `/vsicurl/` reads) that another attempt may not
    /// meet; decided here, where GDAL's error is taken, so callers branch on a flag.
    public let isTransient: Bool

    public init(_ message: String, transient: Bool = false) {
        self.message = message
        self.isTransient = transient
    }

    public var description: String { message }

    /// Wraps `context` with GDAL's own last error text when there is one.
    static func last(_ context: String) -> GDALError {
        let detail = GDAL.takeLastError()
        return GDALError(detail.isEmpty ? context : "\(context): \(detail)",
                         transient: isNetworkFailure(detail))
    }

    /// GDAL reports `/vsicurl/` failures as text only (libcurl's message, or the HTTP status
    /// in words), so this is the one place that reads it: any libcurl transport error
    /// (refused, reset, timeouts, garbled or empty replies), HTTP 5xx and 429. Not here: 404/403
    /// and data that does not decode, which another attempt cannot fix.
    public static func isNetworkFailure(_ message: String) -> Bool {
        let m = message.lowercased()
        let markers = [
            "curl error", "couldn't connect", "could not connect", "failed to connect", "connection refused",
            "connection reset", "connection timed out", "operation timed out", "timeout was reached",
            "recv failure", "send failure", "empty reply from server", "server returned nothing",
            "http response code: 5", "http error code: 5", "http response code: 429", "http error code: 429",
            "couldn't resolve host", "ssl connect error", "http/0.9",
            // /vsicurl/ range reads: "Request for 100206-149210 failed with response_code=0" (no response).
            "response_code=0", "response_code=5", "response_code=429",
        ]
        return markers.contains { m.contains($0) }
    }
}
