import CubeJobs
import CubePlan
import Foundation
import Synchronization

/// What the coordinator tells its display about each job.
public enum RunEvent: Sendable {
    case done(job: String, record: DoneRecord)
    case retrying(job: String, attempt: Int, error: String)
    case failed(job: String, attempts: Int, error: String)
}

/// Runs the queue's jobs on N worker processes on this machine (`cube worker --serve`).
/// One feeder thread per process hands it jobs one at a time; a process that dies is
/// replaced and its job goes back in the queue as a failed attempt.
public struct LocalExecutor: Executor, RegisteredExecutor {
    public static let name = "local"
    public var name: String { Self.name }
    public let maxWorkers: Int
    /// Every worker process started, so a second Ctrl-C can kill them.
    public let processes = ProcessRegistry()

    public init(workers: Int) {
        maxWorkers = max(1, workers)
    }

    /// `--workers` processes (default: the number of cores).
    public static func make(_ options: ExecutorOptions) throws -> ResolvedExecutor {
        .coordinated(LocalExecutor(workers: options.workers ?? ProcessInfo.processInfo.activeProcessorCount))
    }

    public func workers(pending: Int) -> Int { min(maxWorkers, max(1, pending)) }

    public var stoppingNote: String { "stopping: no new jobs; running jobs finish (Ctrl-C again to abort them)" }

    public func abort() -> String? {
        processes.killAll()
        return "aborted; the next `cube run` continues where this one stopped"
    }

    /// Runs until the queue is empty or stopped. `onEvent` is called from feeder threads.
    public func run(_ context: ExecutionContext) {
        signal(SIGPIPE, SIG_IGN)  // a dead worker's stdin must give an error, not kill us
        let group = DispatchGroup()
        for _ in 0..<workers(pending: context.pending.count) {
            group.enter()
            let thread = Thread { [self] in
                feed(context)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }

    private func feed(_ context: ExecutionContext) {
        let queue = context.queue
        var worker: WorkerProcess?
        defer { worker?.finish() }
        while let job = queue.next() {
            let name = job.name(in: context.plan)
            do {
                if worker == nil || worker?.isRunning == false {
                    worker = try WorkerProcess(executable: context.executable,
                                               arguments: WorkerProtocol.serveArguments(store: context.storeLocation,
                                                                                        workerArguments: context.workerArguments))
                    processes.add(worker!)
                }
                let reply = try worker!.run(job: name)
                try handle(reply: reply, job: job, name: name, queue: queue, onEvent: context.onEvent)
            } catch {
                if error is WorkerProcess.Died { worker = nil }
                report(failure: "\(error)", job: job, name: name, queue: queue, onEvent: context.onEvent)
            }
        }
    }

    private func handle(reply: String, job: JobID, name: String, queue: JobQueue,
                        onEvent: @Sendable (RunEvent) -> Void) throws {
        let parsed: WorkerProtocol.Reply
        do { parsed = try WorkerProtocol.parseReply(reply) } catch {
            throw WorkerProcess.Died(description: "\(error)")
        }
        switch parsed {
        case .done(let record):
            queue.finished(job, record)
            onEvent(.done(job: name, record: record))
        case .failed(_, _, _, let error):
            report(failure: error, job: job, name: name, queue: queue, onEvent: onEvent)
        }
    }

    private func report(failure: String, job: JobID, name: String, queue: JobQueue,
                        onEvent: @Sendable (RunEvent) -> Void) {
        if queue.failed(job, error: failure) {
            onEvent(.failed(job: name, attempts: queue.attemptsUsed(job), error: failure))
        } else {
            onEvent(.retrying(job: name, attempt: queue.attemptsUsed(job), error: failure))
        }
    }
}

/// Every worker process started, so a second Ctrl-C can kill them all.
public final class ProcessRegistry: Sendable {
    private let all = Mutex<[Process]>([])

    func add(_ p: WorkerProcess) {
        let process = p.process
        all.withLock { $0.append(process) }
    }

    public func killAll() {
        for p in all.withLock({ $0 }) where p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
    }
}
