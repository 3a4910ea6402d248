import CubeCore
import CubeJobs
import CubePlan
import Foundation
import HTTPClient

public struct SlurmOptions: Sendable {
    /// Array tasks; each runs `cube worker --shard` on its share of the jobs.
    public var tasks: Int
    /// Extra `sbatch` arguments (partition, time limit, memory, account ...).
    public var sbatchArguments: [String]
    /// Where the batch script and the tasks' logs go (must be visible to the compute nodes).
    public var logDirectory: String
    /// Arrays to submit at most: a later one picks up what tasks that died left pending.
    public var rounds: Int
    public var pollSeconds: Double

    public init(tasks: Int, sbatchArguments: [String] = [], logDirectory: String, rounds: Int = 2, pollSeconds: Double = 2) {
        self.tasks = max(1, tasks)
        self.sbatchArguments = sbatchArguments
        self.logDirectory = logDirectory
        self.rounds = max(1, rounds)
        self.pollSeconds = pollSeconds
    }
}

/// Runs the jobs as a Slurm job array (`sbatch --array`). The tasks share nothing but the
/// store: each takes its shard of the selected jobs, skips what is done, records failures;
/// the coordinator follows the done records and the Slurm queue.
public struct SlurmExecutor: Executor, RegisteredExecutor {
    public static let name = "slurm"
    public var name: String { Self.name }
    let options: SlurmOptions

    public init(options: SlurmOptions) {
        self.options = options
    }

    /// `--workers` array tasks (default 16), `--slurm-arg` (repeatable), `--log-dir`.
    public static func make(_ options: ExecutorOptions) throws -> ResolvedExecutor {
        .coordinated(SlurmExecutor(options: SlurmOptions(
            tasks: options.workers ?? 16, sbatchArguments: options.list("slurm-arg"),
            logDirectory: options.value("log-dir") ?? "cube-slurm-logs")))
    }

    public func workers(pending: Int) -> Int { options.tasks }

    public var stoppingNote: String { "stopping: cancelling the Slurm array" }

    public func run(_ context: ExecutionContext) throws {
        let queue = context.queue, ledger = context.ledger, pending = context.pending
        let pendingSet = Set(pending)
        try FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        var round = 0
        var remaining = pending
        while !remaining.isEmpty && round < options.rounds && !queue.isStopped {
            round += 1
            let tasks = min(options.tasks, remaining.count)
            let script = try writeScript(round: round, tasks: tasks, context)
            let arrayID = try submit(script: script, tasks: tasks)
            context.display.note("submitted Slurm array \(arrayID) (\(tasks) task\(tasks == 1 ? "" : "s"), round \(round)); logs in \(options.logDirectory)")
            while true {
                Thread.sleep(forTimeInterval: options.pollSeconds)
                let done = try ledger.doneJobs().intersection(pendingSet)
                let failed = try ledger.failures().keys.filter { pendingSet.contains($0) && !done.contains($0) }
                queue.observe(done: done.count, failed: failed.count)
                if queue.isStopped {
                    _ = try? Shell.run("scancel", [arrayID])
                    break
                }
                if try !isQueued(arrayID) { break }
            }
            let done = try ledger.doneJobs()
            remaining = pending.filter { !done.contains($0) }
        }
        let done = try ledger.doneJobs().intersection(pendingSet)
        let failed = try ledger.failures().keys.filter { pendingSet.contains($0) && !done.contains($0) }
        queue.observe(done: done.count, failed: failed.count)
    }

    private func writeScript(round: Int, tasks: Int, _ context: ExecutionContext) throws -> String {
        let path = (options.logDirectory as NSString).appendingPathComponent("cube-worker-round\(round).sh")
        let args = WorkerProtocol.shardArguments(
            store: context.storeLocation, index: .environment("SLURM_ARRAY_TASK_ID"), count: tasks,
            attempts: context.attempts, selection: context.selectionArguments, workerArguments: context.workerArguments)
        let text = """
        #!/bin/sh
        # Written by `cube run --executor slurm`: one task of the array builds its shard of the jobs.
        exec \(Shell.quote(context.executable)) \(args.map(Shell.quote).joined(separator: " "))

        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    private func submit(script: String, tasks: Int) throws -> String {
        let log = (options.logDirectory as NSString).appendingPathComponent("slurm-%A_%a.out")
        let args = ["--parsable", "--array=0-\(tasks - 1)", "--job-name=cube-worker", "--output=\(log)"]
            + options.sbatchArguments + [script]
        let out = try Shell.run("sbatch", args)
        let id = out.split(separator: ";").first.map(String.init)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw JobError("sbatch did not return a job id: \(out)") }
        return id
    }

    /// Whether any task of the array is still pending or running. A job the controller has
    /// already purged makes squeue fail with "Invalid job id": that means finished. Other
    /// squeue failures (controller restarting) are retried for a while.
    private func isQueued(_ arrayID: String) throws -> Bool {
        var lastError: Error?
        for attempt in 0..<10 {
            do {
                let out = try Shell.run("squeue", ["-h", "-j", arrayID, "-o", "%i"])
                return !out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            } catch {
                if "\(error)".contains("Invalid job id") { return false }
                lastError = error
                Thread.sleep(forTimeInterval: RetryPolicy.schedulerCommands.jitteredDelay(beforeRetry: attempt + 1))
            }
        }
        throw lastError!
    }
}

enum Shell {
    /// Runs a program found on PATH and returns its standard output; throws with its stderr.
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [program] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw JobError("cannot run \(program): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw JobError("\(program) failed (exit \(p.terminationStatus)): \(msg)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:=,@%+".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
