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
        return ceiling(beforeRetry: retry) * min(max(unitRandom, 0), 1)
    }

    /// The wait before retry `retry` as the ceiling ±25 %: for retries whose pace should stay
    /// predictable (a job, a scene, a worker's job) while many of them do not align.
    public func jitteredDelay(beforeRetry retry: Int, unitRandom: Double = Double.random(in: 0..<1)) -> TimeInterval {
        ceiling(beforeRetry: retry) * (0.75 + 0.5 * min(max(unitRandom, 0), 1))
    }

    /// baseDelay · 2^(retry − 1), at most maxDelay.
    public func ceiling(beforeRetry retry: Int) -> TimeInterval {
        let exponent = Double(min(max(retry - 1, 0), 62))
        return min(maxDelay, baseDelay * pow(2, exponent))
    }

    /// A failed chunk job, back in the coordinator's queue: 2 s, 4 s, 8 s … at most 60 s.
    public static let jobs = RetryPolicy(baseDelay: 2, maxDelay: 60)
    /// A job retried inside one worker process: 0.5 s, 1 s, 2 s … at most 30 s.
    public static let workerJobs = RetryPolicy(baseDelay: 0.5, maxDelay: 30)
    /// A scene whose read failed transiently: 0.25 s, 0.5 s, 1 s.
    public static let scenes = RetryPolicy(maxAttempts: 4, baseDelay: 0.25, maxDelay: 30)
    /// A scheduler command (squeue, sbatch) that failed: 1 s, 2 s, 4 s … at most 10 s.
    public static let schedulerCommands = RetryPolicy(baseDelay: 1, maxDelay: 10)
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
