import Foundation

/// When and how long to wait before trying a request again: exponential backoff with full
/// jitter (AWS architecture blog, "Exponential Backoff and Jitter"), or the server's
/// `Retry-After` when it sends one.
public struct RetryPolicy: Sendable {
    /// Attempts in total, the first one included (1 = never retry).
    public var maxAttempts: Int
    /// The backoff ceiling of the first retry; it doubles with every further retry.
    public var baseDelay: TimeInterval
    /// No single backoff ceiling grows past this.
    public var maxDelay: TimeInterval
    /// Retrying stops when the waits so far plus the next one would exceed this.
    public var maxTotalDelay: TimeInterval
    /// Statuses worth another try; every other non-2xx status fails at once.
    public var retryStatuses: Set<Int>

    public init(maxAttempts: Int = 6, baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 30,
                maxTotalDelay: TimeInterval = 120, retryStatuses: Set<Int> = [429, 500, 502, 503, 504]) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = max(0, baseDelay)
        self.maxDelay = max(0, maxDelay)
        self.maxTotalDelay = max(0, maxTotalDelay)
        self.retryStatuses = retryStatuses
    }

    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait before retry number `retry` (1 = the first retry). `retryAfter` from the server
    /// wins over the computed backoff; `unitRandom` is uniform in [0, 1).
    public func delay(beforeRetry retry: Int, retryAfter: TimeInterval?, unitRandom: Double) -> TimeInterval {
        if let retryAfter { return max(0, retryAfter) }
        let exponent = Double(min(max(retry - 1, 0), 62))
        let ceiling = min(maxDelay, baseDelay * pow(2, exponent))
        return ceiling * min(max(unitRandom, 0), 1)
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
public enum RetryAfter {
    public static func seconds(from value: String?, now: Date) -> TimeInterval? {
        guard let raw = value?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        if let secs = Double(raw), secs.isFinite, secs >= 0 { return secs }
        guard let date = httpDate(raw) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// IMF-fixdate, plus the obsolete RFC 850 and asctime forms servers may still send.
    static func httpDate(_ text: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
