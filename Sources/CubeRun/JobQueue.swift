import CubeCore
import CubeJobs
import Foundation
import HTTPClient

/// The coordinator's work queue, shared by the threads that feed worker processes.
/// A failed attempt goes back in the queue after a backoff until `maxAttempts`; then the job
/// counts as failed for good. `stop()` hands out no more jobs (running ones finish).
///
/// `@unchecked`: every mutable field is read and written with `condition` held (an NSCondition,
/// because threads wait on it: `Synchronization.Mutex` has no wait).
public final class JobQueue: @unchecked Sendable {
    public struct Progress: Sendable {
        public var total: Int
        public var done: Int
        public var failed: Int
        public var running: Int
        public var retries: Int
        public var emptyJobs: Int
        public var bytesRead: Int
        public var scenesUsed: Int
        public var scenesSkipped: Int
        public var startedAt: Date
        public var stopping: Bool

        public var finished: Int { done + failed }
    }

    public let maxAttempts: Int
    private let backoff: (Int) -> TimeInterval
    private let condition = NSCondition()
    private var ready: [JobID]
    private var delayed: [(job: JobID, at: Date)] = []
    private var attempts: [JobID: Int] = [:]
    private var progress: Progress
    private var stopped = false
    public private(set) var failures: [JobID: (error: String, attempts: Int)] = [:]
    public private(set) var records: [JobID: DoneRecord] = [:]

    public init(jobs: [JobID], maxAttempts: Int, backoff: @escaping (Int) -> TimeInterval = JobQueue.defaultBackoff) {
        ready = jobs.reversed()  // popLast hands them out in plan order
        self.maxAttempts = max(1, maxAttempts)
        self.backoff = backoff
        progress = Progress(total: jobs.count, done: 0, failed: 0, running: 0, retries: 0, emptyJobs: 0,
                            bytesRead: 0, scenesUsed: 0, scenesSkipped: 0, startedAt: Date(), stopping: false)
    }

    /// `RetryPolicy.jobs`: 2 s, 4 s, 8 s … (capped at 60 s), ±25 % jitter so retries of many
    /// jobs do not align.
    public static func defaultBackoff(_ attempt: Int) -> TimeInterval {
        RetryPolicy.jobs.jitteredDelay(beforeRetry: attempt)
    }

    /// The next job to run, waiting for delayed retries; nil when nothing is left (or stopped).
    public func next() -> JobID? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopped { return nil }
            let now = Date()
            if let i = delayed.firstIndex(where: { $0.at <= now }) {
                let job = delayed.remove(at: i).job
                progress.running += 1
                return job
            }
            if let job = ready.popLast() {
                progress.running += 1
                return job
            }
            if delayed.isEmpty && progress.running == 0 { return nil }
            if delayed.isEmpty && progress.running > 0 {
                // A running job may fail and come back: wait for news.
                condition.wait()
            } else {
                let soonest = delayed.map(\.at).min()!
                _ = condition.wait(until: min(soonest, Date().addingTimeInterval(1)))
            }
        }
    }

    public func finished(_ job: JobID, _ record: DoneRecord) {
        condition.lock()
        progress.running -= 1
        progress.done += 1
        if !record.wrote_chunks { progress.emptyJobs += 1 }
        progress.bytesRead += record.bytes_read
        progress.scenesUsed += record.scenes_used
        progress.scenesSkipped += record.scenes_skipped.count
        records[job] = record
        condition.broadcast()
        condition.unlock()
    }

    /// Records a failed attempt. Returns true when the job failed for good.
    @discardableResult
    public func failed(_ job: JobID, error: String) -> Bool {
        condition.lock()
        defer { condition.broadcast(); condition.unlock() }
        progress.running -= 1
        let n = (attempts[job] ?? 0) + 1
        attempts[job] = n
        if n >= maxAttempts || stopped {
            progress.failed += 1
            failures[job] = (error, n)
            return true
        }
        progress.retries += 1
        delayed.append((job, Date().addingTimeInterval(backoff(n))))
        return false
    }

    /// Attempts used so far by `job`.
    public func attemptsUsed(_ job: JobID) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return attempts[job] ?? 0
    }

    /// For executors that do not go through `next()` (cluster arrays): progress as seen in the store.
    public func observe(done: Int, failed: Int) {
        condition.lock()
        progress.done = done
        progress.failed = failed
        progress.running = 0
        condition.unlock()
    }

    public func stop() {
        condition.lock()
        stopped = true
        progress.stopping = true
        condition.broadcast()
        condition.unlock()
    }

    public var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Jobs that were neither finished nor failed for good (left by a stop).
    public var unfinished: Int {
        condition.lock()
        defer { condition.unlock() }
        return progress.total - progress.done - progress.failed
    }

    public func snapshot() -> Progress {
        condition.lock()
        defer { condition.unlock() }
        return progress
    }
}
