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
public struct LocalExecutor: Sendable {
    public let executable: String
    public let storeLocation: String
    public let workers: Int
    /// Extra arguments for each worker (threads, memory budget).
    public let workerArguments: [String]
    /// Every worker process started, so a second Ctrl-C can kill them.
    public let processes = ProcessRegistry()

    public init(executable: String, storeLocation: String, workers: Int, workerArguments: [String] = []) {
        self.executable = executable
        self.storeLocation = storeLocation
        self.workers = max(1, workers)
        self.workerArguments = workerArguments
    }

    /// Runs until the queue is empty or stopped. `onEvent` is called from feeder threads.
    public func run(queue: JobQueue, plan: Plan, onEvent: @escaping @Sendable (RunEvent) -> Void) {
        signal(SIGPIPE, SIG_IGN)  // a dead worker's stdin must give an error, not kill us
        let group = DispatchGroup()
        for slot in 0..<workers {
            group.enter()
            let thread = Thread { [self] in
                feed(slot: slot, queue: queue, plan: plan, processes: processes, onEvent: onEvent)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }

    private func feed(slot: Int, queue: JobQueue, plan: Plan, processes: ProcessRegistry,
                      onEvent: @escaping @Sendable (RunEvent) -> Void) {
        var worker: WorkerProcess?
        defer { worker?.finish() }
        while let job = queue.next() {
            let name = job.name(in: plan)
            do {
                if worker == nil || worker?.isRunning == false {
                    worker = try WorkerProcess(executable: executable,
                                               arguments: ["worker", storeLocation, "--serve"] + workerArguments)
                    processes.add(worker!)
                }
                let reply = try worker!.run(job: name)
                try handle(reply: reply, job: job, name: name, queue: queue, onEvent: onEvent)
            } catch {
                if error is WorkerProcess.Died { worker = nil }
                report(failure: "\(error)", job: job, name: name, queue: queue, onEvent: onEvent)
            }
        }
    }

    private func handle(reply: String, job: JobID, name: String, queue: JobQueue,
                        onEvent: @Sendable (RunEvent) -> Void) throws {
        let data = Data(reply.utf8)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let status = object["status"] as? String else {
            throw WorkerProcess.Died(description: "worker replied with something that is not a job record: \(reply.prefix(200))")
        }
        if status == "done", let record = try? JSONDecoder().decode(DoneRecord.self, from: data) {
            queue.finished(job, record)
            onEvent(.done(job: name, record: record))
        } else {
            report(failure: (object["error"] as? String) ?? "job failed", job: job, name: name, queue: queue, onEvent: onEvent)
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
