import ArgumentParser
import BenchSupport
import ChunkWorker
import CubeCore
import CubeJobs
import CubeRun
import CubeStore
import Foundation
import HTTPClient

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Build chunk jobs of an initialised cube and write their chunks into the store.",
        discussion: """
        With --job, builds the named jobs (TIME/ROW/COL, e.g. 2024-03/4/7). Without it, builds \
        every land job that has no done record yet, optionally only the share --shard I/N \
        (jobs i with i mod N == I, in plan order) so that N workers anywhere that see the store \
        split the work between them. A job that is already done is skipped.

        Each job prints one JSON line on standard output: scenes found, used and skipped (with \
        reasons), observations, valid pixels, bytes read and written, seconds per phase. \
        A failed job is retried (--attempts); the exit code is 1 if any job failed for good.
        """
    )

    @Argument(help: "The cube's store (a folder written by `cube init`).")
    var store: String

    @Option(name: .customLong("job"), help: "A job to build, TIME/ROW/COL (repeatable).")
    var jobs: [String] = []

    @Option(help: "Build only share I of N of the pending jobs (0-based), e.g. 3/16.")
    var shard: String?

    @Option(name: .customLong("shard-env"),
            help: "Take I of --shard from this environment variable (JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, SLURM_ARRAY_TASK_ID); --shard then gives only N.")
    var shardEnv: String?

    @Option(help: "Attempts per job before it counts as failed.")
    var attempts = 3

    @Option(help: "Threads per job: observations are read and fused in parallel, and the median is split across them. Use 1 when one worker process runs per core.")
    var threads = 1

    @Option(name: .customLong("memory-mib"), help: "Memory budget for a job's observations, in MiB (larger chunks are reduced in strips).")
    var memoryMiB = 512

    @Option(help: "COG range requests in flight at once (the mask and band waves of a job).")
    var connections = 32

    @Option(help: "Observations read at once (default: twice --threads). More lanes than threads hide round trips to a far server, at one observation's memory each.")
    var lanes: Int?

    @Flag(help: "Rebuild jobs that are already done.")
    var redo = false

    @Option(help: "Only jobs of these time bins: a label (2024-03), a list or an inclusive range (2024-03..2024-06).")
    var time: [String] = []

    @Option(help: "Only chunks touching this lon/lat box: WEST,SOUTH,EAST,NORTH.")
    var bbox: String?

    @Flag(help: .hidden)
    var serve = false

    /// Benchmarks: instead of building, time GDAL decoding the source windows of each --job.
    @Flag(name: .customLong("decode-floor"), help: .hidden)
    var decodeFloor = false

    func validate() throws {
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard memoryMiB >= 16 else { throw ValidationError("--memory-mib must be at least 16") }
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        if let lanes, lanes < 1 { throw ValidationError("--lanes must be at least 1") }
        if shard != nil && !jobs.isEmpty { throw ValidationError("--shard and --job cannot be combined") }
        if shardEnv != nil && shard == nil { throw ValidationError("--shard-env needs --shard N (the number of shards)") }
    }

    func run() throws {
        if serve { return try runServing() }
        if decodeFloor {
            return try runReportingErrors {
                let cube = try OpenCube(store: openStore(store))
                for job in try selectJobs(cube) {
                    let result = try DecodeFloor.measure(cube: cube, job: job)
                    let enc = JSONEncoder()
                    enc.outputFormatting = [.sortedKeys]
                    print(String(decoding: try enc.encode(result), as: UTF8.self))
                }
            }
        }
        var failures = 0
        try runReportingErrors {
            let cube = try OpenCube(store: openStore(store))
            let selected = try selectJobs(cube)
            let worker = try ChunkWorker(cube: cube, options: WorkerOptions(
                memoryBudgetBytes: memoryMiB << 20, reduceThreads: threads, readThreads: threads,
                connections: connections, readLanes: lanes))
            for job in selected {
                if !redo, try cube.ledger.isDone(job) { continue }
                if !runWithRetries(worker, job) { failures += 1 }
            }
        }
        if failures > 0 {
            FileHandle.standardError.write(Data("cube: error: \(failures) job(s) failed\n".utf8))
            throw ExitCode(1)
        }
    }

    private func selectJobs(_ cube: OpenCube) throws -> [JobID] {
        let plan = cube.plan
        if !jobs.isEmpty {
            return try jobs.map { text in
                let job: JobID
                do { job = try JobID.parse(text, plan: plan) } catch { throw UsageError("\(error)") }
                guard plan.isLand(cy: job.cy, cx: job.cx) else {
                    throw UsageError("job '\(text)': chunk (\(job.cy), \(job.cx)) is ocean in this cube's plan; it has no job")
                }
                return job
            }
        }
        let all: [JobID]
        do {
            all = try JobSelection.select(plan, time: time, bbox: try bbox.map(parseBBox))
        } catch let e as JobError {
            throw UsageError(e.description)
        }
        let done = redo ? [] : try cube.ledger.doneJobs()
        let pending = all.filter { !done.contains($0) }
        guard let shard else { return pending }
        let (index, count) = try Shard.parse(shard, env: shardEnv)
        let mine = WorkerProtocol.shard(of: all, index: index, count: count)
        return pending.filter(mine.contains)
    }

    /// One job with retries; prints its log line. Returns false when it failed for good.
    private func runWithRetries(_ worker: ChunkWorker, _ job: JobID) -> Bool {
        let name = job.name(in: worker.cube.plan)
        for attempt in 1...attempts {
            do {
                let record = try worker.run(job)
                JobLog.emit(record)
                return true
            } catch {
                let final = attempt == attempts
                JobLog.emitFailure(job: name, attempt: attempt, final: final, error: "\(error)")
                if final {
                    try? worker.cube.ledger.markFailed(job, FailureRecord(
                        job: name, error: "\(error)", attempts: attempt,
                        failed: ISO8601DateFormatter().string(from: Date())))
                    return false
                }
                Thread.sleep(forTimeInterval: RetryPolicy.workerJobs.jitteredDelay(beforeRetry: attempt))
            }
        }
        return false
    }
}

extension WorkerCommand {
    /// `--serve` (used by `cube run`'s local executor): job names arrive on standard input, one
    /// per line; each gets one JSON line on standard output, one attempt (the coordinator
    /// retries). Ends at end of input, after the running job: so a coordinator that dies never
    /// leaves a job half done. SIGINT is ignored (Ctrl-C is the coordinator's to handle).
    func runServing() throws {
        signal(SIGINT, SIG_IGN)
        try runReportingErrors {
            let cube = try OpenCube(store: openStore(store))
            let worker = try ChunkWorker(cube: cube, options: WorkerOptions(
                memoryBudgetBytes: memoryMiB << 20, reduceThreads: threads, readThreads: threads,
                connections: connections, readLanes: lanes))
            while let line = readLine(strippingNewline: true) {
                guard let name = WorkerProtocol.parseRequest(line) else { continue }
                do {
                    let job = try JobID.parse(name, plan: cube.plan)
                    JobLog.emit(try worker.run(job))
                } catch {
                    JobLog.emitFailure(job: name, attempt: 1, final: true, error: "\(error)")
                }
            }
        }
    }
}

/// "W,S,E,N" → [W, S, E, N].
func parseBBox(_ text: String) throws -> [Double] {
    let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 4, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else {
        throw UsageError("--bbox '\(text)' is not WEST,SOUTH,EAST,NORTH (four numbers)")
    }
    return parts.map { $0! }
}

enum Shard {
    /// `WorkerProtocol.parseShard`, its complaint as a usage error (exit 2).
    static func parse(_ text: String, env: String?) throws -> (index: Int, count: Int) {
        do { return try WorkerProtocol.parseShard(text, variable: env) } catch let e as WorkerProtocol.BadShard {
            throw UsageError(e.description)
        }
    }
}

/// One JSON line per job on standard output (`WorkerProtocol.replyLine`), for people (jq) and
/// for the coordinator.
enum JobLog {
    static func emit(_ record: DoneRecord) {
        write(.done(record))
    }

    static func emitFailure(job: String, attempt: Int, final: Bool, error: String) {
        write(.failed(job: job, attempt: attempt, final: final, error: error))
    }

    private static func write(_ reply: WorkerProtocol.Reply) {
        guard let line = WorkerProtocol.replyLine(reply) else { return }
        FileHandle.standardOutput.write(line)
    }
}
