import Foundation
import HTTPClient

/// A remote object as indexed: where it is and what it was when its header was read.
public struct RemoteObject: Sendable, Hashable {
    public var url: String
    /// Size and ETag at indexing time: an answer that differs means the object changed.
    public var size: UInt64?
    public var etag: String?
    public var signing: RequestSigning?
    /// Extra request headers (S3's payload hash, requester pays).
    public var headers: [String]

    public init(url: String, size: UInt64? = nil, etag: String? = nil, signing: RequestSigning? = nil,
                headers: [String] = []) {
        self.url = url
        self.size = size
        self.etag = etag
        self.signing = signing
        self.headers = headers
    }

    public static func == (a: RemoteObject, b: RemoteObject) -> Bool { a.url == b.url }
    public func hash(into h: inout Hasher) { h.combine(url) }
}

/// The object behind an href changed since it was indexed: its stored layout cannot be trusted.
struct StaleObject: Error, CustomStringConvertible {
    let description: String
}

/// Tile bytes fetched ahead of the read lanes, so a job's requests go out in waves with many in
/// flight instead of one round trip after another: at job start the mask tiles of every scene,
/// then, as each scene's mask is decoded, the tiles of all its bands at once.
///
/// Requests are queued (`request`) and taken by a few fetch threads, each with a pool of
/// keep-alive connections; neighbouring ranges of one object with a small gap are merged into
/// one request. A reader `take`s a tile's bytes (waiting while it is in flight); a tile that
/// was never requested is fetched by the reader itself. `reset` at the end of a job drops
/// whatever was not taken.
public final class TilePrefetch: Sendable {
    /// Ranges of one object closer than this are fetched as one request (COG tiles of a row sit
    /// next to each other with a few bytes of leader and trailer between them).
    public let mergeGap: Int
    /// Largest merged request, so one object does not monopolise the connections.
    public let maxMergedBytes: Int
    private let state: State

    /// `connections`: requests in flight at once, spread over `threads` fetch threads.
    public init(connections: Int = 32, threads: Int = 4, mergeGap: Int = 64 << 10, maxMergedBytes: Int = 16 << 20) {
        self.mergeGap = mergeGap
        self.maxMergedBytes = maxMergedBytes
        let threads = max(1, min(threads, connections))
        state = State(threads: threads, perThread: max(1, connections / threads))
    }

    deinit { state.close() }

    /// Queues ranges of `object` (offset, size); ranges already known are ignored.
    public func request(_ object: RemoteObject, _ ranges: [(offset: UInt64, size: Int)]) {
        let sorted = ranges.filter { $0.size > 0 }.sorted { $0.offset < $1.offset }
        var groups: [[(offset: UInt64, size: Int)]] = []
        for r in sorted {
            if var last = groups.last, let tail = last.last,
               r.offset >= tail.offset + UInt64(tail.size),
               r.offset - (tail.offset + UInt64(tail.size)) <= UInt64(mergeGap),
               Int(r.offset + UInt64(r.size) - last[0].offset) <= maxMergedBytes {
                last.append(r)
                groups[groups.count - 1] = last
            } else {
                groups.append([r])
            }
        }
        state.enqueue(object, groups)
    }

    /// Fetched bytes, freed when the last range taken from them is released. Unchecked: the
    /// pointer is written by one fetch thread before the bytes are published under the
    /// prefetch's lock, and only read after.
    public final class Bytes: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
        deinit { pointer.deallocate() }
    }

    public enum Taken {
        /// The range's bytes at `start`, valid while `owner` is kept.
        case bytes(owner: Bytes, start: UnsafeRawPointer)
        /// Never requested: the caller fetches it.
        case notRequested
        /// Its request failed.
        case failed(RangeOutcome)
    }

    /// The `size` bytes of `url` at `offset`, waiting while they are in flight.
    public func take(_ url: String, offset: UInt64, size: Int) -> Taken {
        state.take(url, offset: offset, size: size)
    }

    /// The job is over: queued requests are dropped and untaken bytes freed.
    public func reset() { state.reset() }

    /// Requests sent and bytes received since the prefetch was made (tests, job records).
    public var counts: (requests: Int, bytes: Int) { state.counts }

    /// `@unchecked`: every mutable field is read and written with `condition` held (an NSCondition,
    /// because threads wait on it: `Synchronization.Mutex` has no wait).
    private final class State: @unchecked Sendable {
        struct Key: Hashable {
            let url: String
            let offset: UInt64
        }
        enum Entry {
            case queued
            case inFlight
            case ready(Bytes, Int, Int)
            case failed(RangeOutcome)
        }
        struct Job {
            let object: RemoteObject
            let ranges: [(offset: UInt64, size: Int)]
        }

        private let condition = NSCondition()
        private var entries: [Key: Entry] = [:]
        private var queue: [Job] = []
        private var closed = false
        private var started = false
        private let threads: Int
        private let perThread: Int
        private var requests = 0
        private var bytes = 0

        init(threads: Int, perThread: Int) {
            self.threads = threads
            self.perThread = perThread
        }

        var counts: (requests: Int, bytes: Int) {
            condition.lock(); defer { condition.unlock() }
            return (requests, bytes)
        }

        func enqueue(_ object: RemoteObject, _ groups: [[(offset: UInt64, size: Int)]]) {
            condition.lock()
            defer { condition.unlock() }
            if !started {
                started = true
                for i in 0..<threads {
                    let thread = Thread { [self] in self.loop() }
                    thread.name = "tile-fetch-\(i)"
                    thread.start()
                }
            }
            for group in groups {
                let fresh = group.filter { entries[Key(url: object.url, offset: $0.offset)] == nil }
                guard !fresh.isEmpty else { continue }
                for r in fresh { entries[Key(url: object.url, offset: r.offset)] = .queued }
                queue.append(Job(object: object, ranges: fresh))
            }
            condition.broadcast()
        }

        func take(_ url: String, offset: UInt64, size: Int) -> Taken {
            let key = Key(url: url, offset: offset)
            condition.lock()
            defer { condition.unlock() }
            while true {
                switch entries[key] {
                case nil:
                    return .notRequested
                case .queued?, .inFlight?:
                    condition.wait()
                case .ready(let owner, let at, let count)?:
                    entries[key] = nil
                    guard count == size else { return .notRequested }
                    return .bytes(owner: owner, start: UnsafeRawPointer(owner.pointer + at))
                case .failed(let outcome)?:
                    entries[key] = nil
                    return .failed(outcome)
                }
            }
        }

        func reset() {
            condition.lock()
            queue.removeAll()
            for (key, entry) in entries {
                switch entry {
                case .ready, .queued, .failed: entries[key] = nil
                case .inFlight: break
                }
            }
            condition.broadcast()
            condition.unlock()
        }

        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }

        /// One fetch thread: takes up to `perThread` queued requests at a time.
        private func loop() {
            let fetcher = try? ParallelFetcher(maxParallel: perThread)
            while true {
                condition.lock()
                while queue.isEmpty && !closed { condition.wait() }
                if closed {
                    condition.unlock()
                    return
                }
                let batch = Array(queue.prefix(perThread))
                queue.removeFirst(batch.count)
                for job in batch { for r in job.ranges { entries[Key(url: job.object.url, offset: r.offset)] = .inFlight } }
                requests += batch.count
                condition.unlock()
                fetch(batch, with: fetcher)
            }
        }

        private func fetch(_ batch: [Job], with fetcher: ParallelFetcher?) {
            var buffers: [UnsafeMutableRawPointer] = []
            var list: [RangeRequest] = []
            for job in batch {
                let first = job.ranges[0].offset
                let last = job.ranges[job.ranges.count - 1]
                let size = Int(last.offset - first) + last.size
                buffers.append(UnsafeMutableRawPointer.allocate(byteCount: max(1, size), alignment: 64))
                list.append(RangeRequest(url: job.object.url, offset: first, size: size,
                                         expectedObjectSize: job.object.size, expectedETag: job.object.etag,
                                         signing: job.object.signing, headers: job.object.headers))
            }
            // Requests still in flight at a job's reset land anyway: the next job may want the
            // same tiles (neighbouring chunks), and the next reset frees them otherwise.
            let owners = buffers.map { Bytes($0) }
            let land = { (i: Int, outcome: RangeOutcome) in
                let job = batch[i]
                self.condition.lock()
                defer { self.condition.unlock() }
                if case .ok = outcome { self.bytes += list[i].size }
                for r in job.ranges {
                    let key = Key(url: job.object.url, offset: r.offset)
                    guard case .inFlight? = self.entries[key] else { continue }
                    let at = Int(r.offset - list[i].offset)
                    if case .ok(_, _, let received) = outcome, at + r.size <= received {
                        self.entries[key] = .ready(owners[i], at, r.size)
                    } else if case .ok = outcome {
                        self.entries[key] = .failed(.changed("the object ends before the block"))
                    } else {
                        self.entries[key] = .failed(outcome)
                    }
                }
                self.condition.broadcast()
            }
            if let fetcher {
                fetcher.fetch(list, into: buffers, onDone: land)
            } else {
                for i in batch.indices { land(i, .failed("no HTTP connection pool", transient: true)) }
            }
        }
    }
}
