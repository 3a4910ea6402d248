import CubeJobs
import CubePlan
import Foundation
import Synchronization

/// Runs the jobs as tasks on a Dask cluster (`--executor dask --scheduler ADDRESS`): task I
/// of N runs `cube worker STORE --shard I/N` on a Dask worker, where cube must be installed
/// (at this executable's path, or on the worker's PATH) and the store reachable. Dask speaks
/// Python, so the coordinator runs the small client below with the `python3` on PATH (or
/// `--dask-python`), which must import `distributed`. Like Slurm, the coordinator follows
/// the done records in the store; the client reports each task's outcome as a JSON line.
/// A task whose Dask worker dies is rescheduled by the scheduler on another worker; a
/// shard that exits 1 (a job failed for good) is retried (`--dask-retries`, default 1), and
/// the retry builds only what is not done.
public struct DaskExecutor: Executor, RegisteredExecutor {
    public static let name = "dask"
    public static let exclusiveOptions = ["scheduler", "dask-python", "dask-retries"]
    public var name: String { Self.name }
    public let scheduler: String
    public let tasks: Int
    public let python: String
    public let retries: Int
    public var pollSeconds: Double = 1

    public init(scheduler: String, tasks: Int, python: String = "python3", retries: Int = 1) {
        self.scheduler = scheduler
        self.tasks = max(1, tasks)
        self.python = python
        self.retries = max(0, retries)
    }

    /// `--scheduler ADDRESS` (required), `--workers` tasks (default 16), `--dask-python`, `--dask-retries`.
    public static func make(_ options: ExecutorOptions) throws -> ResolvedExecutor {
        let retries = try options.value("dask-retries").map { text -> Int in
            guard let n = Int(text), n >= 0 else { throw JobError("--dask-retries must be a whole number, not '\(text)'") }
            return n
        }
        return .coordinated(DaskExecutor(
            scheduler: try options.required("scheduler", for: name), tasks: options.workers ?? 16,
            python: options.value("dask-python") ?? "python3", retries: retries ?? 1))
    }

    public func workers(pending: Int) -> Int { min(tasks, max(1, pending)) }

    public var stoppingNote: String { "stopping: cancelling the Dask tasks not started; running shards finish" }

    public func run(_ context: ExecutionContext) throws {
        let count = workers(pending: context.pending.count)
        let argv = (0..<count).map { i in
            WorkerProtocol.shardArguments(store: context.storeLocation, index: .fixed(i), count: count,
                                          attempts: context.attempts, selection: context.selectionArguments,
                                          workerArguments: context.workerArguments)
        }
        let script = FileManager.default.temporaryDirectory
            .appendingPathComponent("cube-dask-client-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8)).py")
        try Self.client.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let tasksJSON = String(decoding: try JSONSerialization.data(withJSONObject: argv), as: UTF8.self)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script.path, "--scheduler", scheduler, "--executable", context.executable,
                             "--retries", "\(retries)", "--tasks-json", tasksJSON]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw JobError("cannot run \(python): \(error)") }

        let outcome = ClientOutcome()
        let display = context.display
        let readers = DispatchGroup()
        readers.enter()
        let outFD = out.fileHandleForReading
        Thread.detachNewThread {
            defer { readers.leave() }
            var buffer = Data()
            while true {
                let chunk = outFD.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let nl = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...nl)
                    Self.handle(line: line, count: count, display: display, outcome: outcome)
                }
            }
        }
        readers.enter()
        let errFD = err.fileHandleForReading
        Thread.detachNewThread {
            defer { readers.leave() }
            while true {
                let chunk = errFD.availableData
                if chunk.isEmpty { break }
                outcome.appendStderr(chunk)
            }
        }

        let pendingSet = Set(context.pending)
        var terminated = false
        while process.isRunning {
            Thread.sleep(forTimeInterval: pollSeconds)
            try observe(context, pendingSet)
            if context.queue.isStopped && !terminated {
                // The client's end releases its futures: the scheduler forgets the tasks not started.
                process.terminate()
                terminated = true
            }
        }
        process.waitUntilExit()
        readers.wait()

        // A shard that failed for good (its retries spent, or a worker with no cube): its jobs
        // that neither got done nor recorded a failure are recorded failed with the task's error,
        // so the report and the exit code say so (a Slurm task's jobs would stay pending).
        let (failedTasks, errors) = outcome.state.withLock { ($0.failedTasks, $0.errors) }
        if !failedTasks.isEmpty {
            let done = try context.ledger.doneJobs()
            let recorded = try context.ledger.failures()
            for (index, error) in failedTasks {
                for job in WorkerProtocol.shard(of: context.selected, index: index, count: count)
                    where pendingSet.contains(job) && !done.contains(job) && recorded[job] == nil {
                    try? context.ledger.markFailed(job, FailureRecord(
                        job: job.name(in: context.plan), error: "dask task \(index)/\(count): \(error)",
                        attempts: retries + 1, failed: ISO8601DateFormatter().string(from: Date())))
                }
            }
        }
        try observe(context, pendingSet)
        let status = process.terminationStatus
        if status != 0 && !terminated {
            let tail = String(decoding: outcome.stderrTail.withLock { $0 }, as: UTF8.self)
                .split(separator: "\n").suffix(3).joined(separator: " | ")
            throw JobError("the Dask client failed (exit \(status)): \(errors.last ?? tail)")
        }
    }

    private func observe(_ context: ExecutionContext, _ pendingSet: Set<JobID>) throws {
        let done = try context.ledger.doneJobs().intersection(pendingSet)
        let failed = try context.ledger.failures().keys.filter { pendingSet.contains($0) && !done.contains($0) }
        context.queue.observe(done: done.count, failed: failed.count)
    }

    /// One line of the client: a note for the display, failed tasks remembered.
    private static func handle(line: String, count: Int, display: ProgressDisplay,
                               outcome: ClientOutcome) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let event = object["event"] as? String else {
            if !line.trimmingCharacters(in: .whitespaces).isEmpty { display.note("dask client: \(line.prefix(300))") }
            return
        }
        switch event {
        case "connected":
            let workers = object["workers"] as? Int ?? 0
            display.note("connected to the Dask scheduler \(object["scheduler"] as? String ?? "") (\(workers) worker\(workers == 1 ? "" : "s") now)")
        case "submitted":
            display.note("submitted \(object["tasks"] as? Int ?? count) Dask tasks, each `cube worker --shard I/\(count)`")
        case "task":
            let index = object["task"] as? Int ?? -1
            let worker = object["worker"] as? String ?? "?"
            if object["status"] as? String == "done" {
                let seconds = object["seconds"] as? Double ?? 0
                display.note(String(format: "dask task %d/%d done on %@: %d jobs built in %.1f s",
                                    index, count, worker, object["jobs_done"] as? Int ?? 0, seconds))
            } else {
                let error = object["error"] as? String ?? "failed"
                outcome.state.withLock { $0.failedTasks[index] = error }
                display.note("dask task \(index)/\(count) FAILED: \(error)")
            }
        case "error":
            let error = object["error"] as? String ?? line
            outcome.state.withLock { $0.errors.append(error) }
            display.note("dask: \(error)")
        default:
            display.note("dask client: \(line.prefix(300))")
        }
    }

    /// What the client's reader threads collect for the end of the run.
    final class ClientOutcome: Sendable {
        let state = Mutex((failedTasks: [Int: String](), errors: [String]()))
        /// The last few KiB of the client's standard error (Dask's own log), for an error message.
        let stderrTail = Mutex(Data())

        func appendStderr(_ chunk: Data) {
            stderrTail.withLock { tail in
                tail.append(chunk)
                if tail.count > 8192 { tail.removeFirst(tail.count - 8192) }
            }
        }
    }

    /// The client the coordinator runs (written to a temporary file): kept in this file so the
    /// executor is one file, and any `cube` binary carries it.
    static let client = #"""
    """cube's Dask client, written and run by `cube run --executor dask`.

    Connects to the scheduler, submits one task per shard (each runs `cube worker ... --shard I/N`
    in a subprocess on a Dask worker) and prints one JSON line per event on standard output:
    connected, submitted, then one "task" line per shard outcome. Exit 0 once every task has an
    outcome; 3 when `distributed` cannot be imported; 4 when the scheduler cannot be reached.
    """
    import argparse
    import json
    import sys
    import uuid


    def emit(**fields):
        sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
        sys.stdout.flush()


    def run_shard(executable, argv, index):
        """On a Dask worker: one shard of the cube's jobs, as a `cube worker` child process."""
        import os
        import shutil
        import subprocess
        import time

        exe = executable if os.access(executable, os.X_OK) else shutil.which("cube")
        if exe is None:
            raise RuntimeError(f"no cube on this Dask worker: {executable} is missing and `cube` is not on PATH")
        preexec = None
        if sys.platform.startswith("linux"):
            import ctypes
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            # PR_SET_PDEATHSIG (1) = SIGKILL (9): when the Dask worker dies, so does its shard, so the
            # rescheduled task is the only one building it.
            preexec = lambda: prctl(1, 9)  # noqa: E731
        started = time.time()
        proc = subprocess.run([exe, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=preexec)
        statuses = []
        for line in proc.stdout.splitlines():
            try:
                statuses.append(json.loads(line).get("status"))
            except ValueError:
                pass
        try:
            from distributed import get_worker
            worker = get_worker().address
        except ValueError:
            worker = ""
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        result = {"task": index, "exit": proc.returncode, "worker": worker, "seconds": round(time.time() - started, 3),
                  "jobs_done": statuses.count("done"), "jobs_failed": statuses.count("failed")}
        if proc.returncode == 0:
            return {**result, "status": "done"}
        if proc.returncode == 2:  # a bad spec or bad arguments: a retry cannot help
            return {**result, "status": "failed", "error": f"cube worker exited 2: {tail}"}
        # Raised, so Dask retries the task (`retries=`): the retry builds only what is not done.
        raise RuntimeError(f"cube worker --shard {index} exited {proc.returncode} on {worker}: {tail}")


    def connect(Client, scheduler, timeout):
        """A client for an address, a scheduler file, or a managed cluster by name (whose
        library brings the cluster's TLS credentials)."""
        if scheduler.startswith("dask-gateway:"):
            from dask_gateway import Gateway
            return Gateway().connect(scheduler[len("dask-gateway:"):]).get_client()
        if scheduler.startswith("coiled:"):
            import coiled
            return coiled.Cluster(name=scheduler[len("coiled:"):]).get_client()
        if scheduler.endswith(".json"):
            return Client(scheduler_file=scheduler, timeout=timeout)
        return Client(scheduler, timeout=timeout)


    def main():
        ap = argparse.ArgumentParser(description=__doc__)
        ap.add_argument("--scheduler", required=True,
                        help="tcp://HOST:PORT, a scheduler file (.json), dask-gateway:NAME or coiled:NAME")
        ap.add_argument("--executable", required=True, help="the cube the workers run (else `cube` on their PATH)")
        ap.add_argument("--tasks-json", required=True, help="one argument list per task (after the executable)")
        ap.add_argument("--retries", type=int, default=1)
        ap.add_argument("--timeout", default="60s", help="to connect to the scheduler")
        a = ap.parse_args()
        try:
            from distributed import Client, as_completed
        except ImportError as e:
            emit(event="error", error=f"{sys.executable} cannot import distributed ({e}): "
                 "`pip install 'dask[distributed]'` there, or name another interpreter with --dask-python")
            return 3
        tasks = json.loads(a.tasks_json)
        try:
            client = connect(Client, a.scheduler, a.timeout)
        except Exception as e:  # noqa: BLE001 - any failure to connect is reported the same way
            emit(event="error", error=f"cannot connect to the Dask scheduler {a.scheduler}: {e}")
            return 4
        with client:
            emit(event="connected", scheduler=a.scheduler, workers=len(client.scheduler_info().get("workers", {})))
            run = uuid.uuid4().hex[:8]
            futures = {client.submit(run_shard, a.executable, argv, i, key=f"cube-shard-{i}-of-{len(tasks)}-{run}",
                                     pure=False, retries=a.retries): i
                       for i, argv in enumerate(tasks)}
            emit(event="submitted", tasks=len(tasks))
            for future in as_completed(futures):
                i = futures[future]
                try:
                    emit(event="task", **future.result())
                except Exception as e:  # noqa: BLE001 - a shard's failure (or KilledWorker) is its outcome
                    emit(event="task", task=i, status="failed", error=f"{type(e).__name__}: {e}")
        return 0


    if __name__ == "__main__":
        sys.exit(main())
    """#
}
