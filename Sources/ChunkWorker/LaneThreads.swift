import Foundation

/// The read lanes of a worker as threads of their own, kept between jobs (so GDAL's and PROJ's
/// per-thread state is made once). Unlike `DispatchQueue.concurrentPerform`, which runs at most
/// one iteration per core, every lane really runs at once: a lane waiting for its band wave
/// does not keep another lane from decoding, so with a far server more lanes than cores hide
/// round trips. The threads end when the `LaneThreads` goes away.
final class LaneThreads {
    private let state = State()

    deinit { state.close() }

    /// Runs `body(lane)` for lanes 0..<count, each on its own thread, and returns when all have.
    func run(count: Int, _ body: @escaping (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        state.run(count: count, body)
    }

    /// Shared with the threads, which must not keep the `LaneThreads` alive.
    /// `@unchecked`: every mutable field is read and written with `condition` held (an
    /// NSCondition, because threads wait on it: `Synchronization.Mutex` has no wait). The body
    /// runs on the lane threads: `ChunkWorker.readLanes`, its one caller, shares the reducer
    /// and the lane results under its own lock.
    private final class State: @unchecked Sendable {
        private let condition = NSCondition()
        private var threads = 0
        private var work: ((Int) -> Void)?
        private var round = 0
        private var taken = 0
        private var wanted = 0
        private var finished = 0
        private var closed = false

        func run(count: Int, _ body: @escaping (Int) -> Void) {
            condition.lock()
            while threads < count {
                let thread = Thread { [self] in self.loop() }
                thread.name = "read-lane-\(threads)"
                thread.stackSize = 8 << 20
                thread.start()
                threads += 1
            }
            work = body
            wanted = count
            taken = 0
            finished = 0
            round += 1
            condition.broadcast()
            while finished < count { condition.wait() }
            work = nil
            condition.unlock()
        }

        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }

        private func loop() {
            var seen = 0
            condition.lock()
            while true {
                // Wait for a round this thread has not served that still has a lane to give.
                while !closed && (round == seen || taken >= wanted) {
                    if round != seen && taken >= wanted { seen = round }
                    condition.wait()
                }
                if closed { break }
                seen = round
                let lane = taken
                taken += 1
                guard let body = work else { continue }
                condition.unlock()
                body(lane)
                condition.lock()
                finished += 1
                if finished == wanted { condition.broadcast() }
            }
            condition.unlock()
        }
    }
}
