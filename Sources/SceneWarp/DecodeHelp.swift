import Foundation

/// Lets the read lanes of a job that have run out of work decode tiles for a lane that is
/// still busy. Observations are handed out whole, so without this the last one or two leave
/// a core idle while one lane finishes alone (about 0.2 s of a 2 s chunk on two cores).
///
/// A busy lane offers each batch of fetched tiles (`run`) and decodes its share itself; an
/// idle lane (`serve`) takes tiles from the current offer until every lane is done. Tiles of
/// one plane write disjoint target pixels, so they can be gathered from any thread.
///
/// `@unchecked`: every mutable field is read and written with `condition` held (an NSCondition,
/// because threads wait on it: `Synchronization.Mutex` has no wait).
public final class DecodeHelp: @unchecked Sendable {
    private let condition = NSCondition()
    private var idle = 0
    private var busy = 0
    private var offer: Offer?
    /// Items done by serving (idle) lanes since `begin`, for tests and tuning; guarded by `condition`.
    private var helpedCount = 0
    public var helped: Int {
        condition.lock()
        defer { condition.unlock() }
        return helpedCount
    }

    final class Offer {
        let count: Int
        var next = 0
        var finished = 0
        var failure: Error?
        let work: (Int, TileDecoder, inout GrowableBuffer) throws -> Void

        init(count: Int, work: @escaping (Int, TileDecoder, inout GrowableBuffer) throws -> Void) {
            self.count = count
            self.work = work
        }
    }

    public init() {}

    /// Starts a round (a job's strip).
    public func begin() {
        condition.lock()
        busy = 0
        offer = nil
        helpedCount = 0
        condition.unlock()
    }

    /// A lane starts reading. Lanes count only once started: `concurrentPerform` may run more
    /// lanes than it has threads one after another, so a serving lane must never wait for a
    /// lane that has not started.
    public func laneStarted() {
        condition.lock()
        busy += 1
        condition.unlock()
    }

    /// A lane has nothing left to read; it may then `serve` until no lane is reading.
    public func laneDone() {
        condition.lock()
        busy -= 1
        if busy <= 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Decodes tiles offered by busy lanes; returns once no lane is busy.
    public func serve() {
        let decoder = TileDecoder()
        var buffer = GrowableBuffer()
        defer { buffer.free() }
        condition.lock()
        idle += 1
        while true {
            if let o = offer, o.next < o.count {
                take(from: o, decoder: decoder, buffer: &buffer)
                helpedCount += 1
                continue
            }
            if busy <= 0 { break }
            condition.wait()
        }
        idle -= 1
        condition.unlock()
    }

    /// True when some lane waits for work: only then is a batch worth offering.
    var hasIdleLane: Bool {
        condition.lock()
        defer { condition.unlock() }
        return idle > 0
    }

    /// Runs `work(0..<count)` on the calling thread (with its own decoder and buffer) and on
    /// idle lanes; returns when all are done, rethrowing the first failure.
    func run(count: Int, decoder: TileDecoder, buffer: inout GrowableBuffer,
             _ work: @escaping (Int, TileDecoder, inout GrowableBuffer) throws -> Void) throws {
        let o = Offer(count: count, work: work)
        condition.lock()
        offer = o
        condition.broadcast()
        while o.next < o.count { take(from: o, decoder: decoder, buffer: &buffer) }
        while o.finished < o.count { condition.wait() }
        if offer === o { offer = nil }
        condition.unlock()
        if let failure = o.failure { throw failure }
    }

    /// One item of `o`; called and returns with the lock held.
    private func take(from o: Offer, decoder: TileDecoder, buffer: inout GrowableBuffer) {
        let i = o.next
        o.next += 1
        let skip = o.failure != nil
        condition.unlock()
        var failure: Error?
        if !skip {
            do { try o.work(i, decoder, &buffer) } catch { failure = error }
        }
        condition.lock()
        o.finished += 1
        if let failure, o.failure == nil { o.failure = failure }
        if o.finished == o.count { condition.broadcast() }
    }
}
