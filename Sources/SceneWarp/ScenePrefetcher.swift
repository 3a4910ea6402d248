import CubeCore
import Foundation
import GDALKit

/// Opens the assets a job will read ahead of its read lanes, on threads of its own. Opening a
/// remote COG costs two round trips (size, then the header) plus GDAL building the CRS from
/// its keys: about 2 ms each on loopback, 0.2 s of a 1200² chunk's lane time (104 assets),
/// and with a 30 ms round trip to a real server some 6 s. Now the lanes find them open.
///
/// `start` queues a job's hrefs in the order the lanes will want them; a reader `take`s an
/// opened dataset (or waits for one being opened, or opens it itself when it is not there
/// yet). A failed open leaves nothing behind: the reader's own open reports the error. At
/// most `ahead` datasets wait to be taken. The threads live as long as the prefetcher (so a
/// worker's many jobs share their GDAL and PROJ thread state) and wait while there is nothing
/// to open.
public final class ScenePrefetcher: Sendable {
    private let state: State

    /// `threads`: opens in flight at once (they mostly wait on the network).
    public init(ahead: Int = 24, threads: Int = 4) {
        state = State(ahead: max(1, ahead), threads: max(1, threads))
    }

    deinit { state.close() }

    /// A new job: queues `hrefs` (duplicates once) and drops what the previous job left.
    public func start(_ hrefs: [String]) { state.start(hrefs) }

    /// The job is over: nothing more is opened, and untaken datasets are closed.
    public func stop() { state.start([]) }

    /// The opened dataset of `href`, if it was prefetched (waiting while it is being opened);
    /// nil means the caller opens it. A queued href is taken off the queue.
    func take(_ href: String) -> Dataset? { state.take(href) }

    /// Datasets opened and not yet taken (tests).
    var readyCount: Int { state.readyCount }

    /// Shared by the threads, which must not keep the prefetcher itself alive.
    /// `@unchecked`: every mutable field is read and written with `condition` held (an NSCondition,
    /// because threads wait on it: `Synchronization.Mutex` has no wait).
    private final class State: @unchecked Sendable {
        private let condition = NSCondition()
        private var queue: [String] = []
        private var ready: [String: Dataset] = [:]
        private var opening = Set<String>()
        private var generation = 0
        private var started = false
        private var closed = false
        private let ahead: Int
        private let threads: Int

        init(ahead: Int, threads: Int) {
            self.ahead = ahead
            self.threads = threads
        }

        func start(_ hrefs: [String]) {
            var seen = Set<String>()
            let list = hrefs.filter { seen.insert($0).inserted }
            condition.lock()
            generation += 1
            queue = list
            let dropped = ready
            ready.removeAll()
            let spawn = !started && !list.isEmpty
            if spawn { started = true }
            condition.broadcast()
            condition.unlock()
            _ = dropped  // closed here, outside the lock
            if spawn {
                for _ in 0..<threads {
                    let thread = Thread { [self] in run() }
                    thread.name = "cube.prefetch"
                    thread.start()
                }
            }
        }

        var readyCount: Int {
            condition.lock()
            defer { condition.unlock() }
            return ready.count
        }

        func close() {
            condition.lock()
            closed = true
            queue.removeAll()
            ready.removeAll()
            condition.broadcast()
            condition.unlock()
        }

        func take(_ href: String) -> Dataset? {
            condition.lock()
            defer { condition.unlock() }
            while opening.contains(href) { condition.wait() }
            if let dataset = ready.removeValue(forKey: href) {
                condition.broadcast()  // room ahead
                return dataset
            }
            if let i = queue.firstIndex(of: href) { queue.remove(at: i) }
            return nil
        }

        private func run() {
            condition.lock()
            while !closed {
                if queue.isEmpty || ready.count + opening.count >= ahead {
                    condition.wait()
                    continue
                }
                let href = queue.removeFirst()
                let job = generation
                opening.insert(href)
                condition.unlock()
                let path = gdalPath(forHref: href)
                let dataset = try? Dataset(path: path)
                // A failed open (a 503, a dropped connection) must not be remembered by
                // /vsicurl/: the reader opens the file itself and must meet the real error,
                // which tells a network failure (retry) from a broken scene (skip).
                if dataset == nil { GDAL.clearNetworkCache(path: path) }
                // GDAL builds these lazily (the CRS from GeoTIFF keys takes PROJ database
                // lookups): done here, the reader finds them ready.
                _ = dataset?.geoTransform
                _ = dataset?.projectionWKT
                condition.lock()
                opening.remove(href)
                if job == generation, !closed, let dataset { ready[href] = dataset }
                condition.broadcast()
            }
            condition.unlock()
        }
    }
}
