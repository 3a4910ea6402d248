import CubeJobs
import CubePyramid
import CubeSchema
import Foundation
import Synchronization

/// Publishes time bins while a run goes on: when a bin's last job is done (and every bin
/// before it), its pyramid is built and the cube's metadata moves on, so readers follow an
/// append bin by bin. Work runs on a serial queue of its own, off the executor's threads;
/// the coordinator waits for it before its final publication.
final class BinPublisher: Sendable {
    private let coordinator: Coordinator
    private let lockLost: @Sendable () -> Bool
    private let state: Mutex<(remaining: [Int], done: Set<JobID>)>
    private let queue = DispatchQueue(label: "cube.publish")
    /// The pyramid chunks built along the way (for the run report).
    private let pyramid = Mutex(PyramidBuilder.Report())
    var pyramidReport: PyramidBuilder.Report { pyramid.withLock { $0 } }

    init(coordinator: Coordinator, allJobs: [JobID], done: Set<JobID>, lockLost: @escaping @Sendable () -> Bool) {
        self.coordinator = coordinator
        self.lockLost = lockLost
        var remaining = [Int](repeating: 0, count: coordinator.plan.bins.count)
        for job in allJobs where !done.contains(job) { remaining[job.bin] += 1 }
        state = Mutex((remaining, done))
    }

    func jobDone(_ job: JobID, display: ProgressDisplay) {
        let binComplete = state.withLock { s -> Bool in
            guard s.done.insert(job).inserted else { return false }
            s.remaining[job.bin] -= 1
            return s.remaining[job.bin] == 0
        }
        guard binComplete else { return }
        let done = state.withLock { $0.done }
        queue.async { [self] in
            guard !lockLost() else { return }
            do {
                let built = try coordinator.buildPyramid(done: done, display: display)
                if let built {
                    pyramid.withLock { r in
                        r.built += built.built
                        r.empty += built.empty
                    }
                }
                try coordinator.publish(done: done, pyramidFailed: built?.failedBins ?? [], display: display, interim: true)
            } catch {
                display.note("publishing \(coordinator.plan.bins[job.bin].label): \(error) (the run's end tries again)")
            }
        }
    }

    func waitIdle() { queue.sync {} }
}
