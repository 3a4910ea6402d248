import CubeJobs
import Foundation

/// What a `cube worker` reads and prints, defined once: `cube worker` (CubeCLI's
/// WorkerCommand) speaks it, the executors drive it. Two ways to run a worker:
///
/// - `--serve` (the local executor): one job name per line on standard input
///   (`requestLine`), one reply line per job on standard output (`replyLine`), one attempt
///   each (the coordinator retries); end of input ends the worker after its running job.
/// - `--shard I/N` (cluster executors: Slurm, Kubernetes, Dask): the worker builds its share
///   of the selected jobs that are not done, with its own retries (`--attempts`), printing a
///   reply line per job; I may come from an environment variable (`--shard-env`).
///
/// Exit codes: 0 every job done, 1 some job failed for good (or the store failed),
/// 2 a bad spec or bad arguments (retrying cannot help).
public enum WorkerProtocol {
    public static let exitDone: Int32 = 0
    public static let exitJobsFailed: Int32 = 1
    public static let exitBadRequest: Int32 = 2

    /// One job's outcome, as a worker prints it.
    public enum Reply: Sendable, Equatable {
        case done(DoneRecord)
        /// An attempt failed; `final`: the job failed for good.
        case failed(job: String, attempt: Int, final: Bool, error: String)
    }

    /// A `--shard` index: fixed, or read by the worker from an environment variable.
    public enum ShardIndex: Sendable, Equatable {
        case fixed(Int)
        case environment(String)
    }

    public struct BadShard: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: arguments

    /// `worker STORE --serve ARGS` (without the executable).
    public static func serveArguments(store: String, workerArguments: [String]) -> [String] {
        ["worker", store, "--serve"] + workerArguments
    }

    /// `worker STORE --shard …  --attempts A SELECTION ARGS` (without the executable).
    public static func shardArguments(store: String, index: ShardIndex, count: Int, attempts: Int,
                                      selection: [String], workerArguments: [String]) -> [String] {
        var args = ["worker", store, "--shard"]
        switch index {
        case .fixed(let i): args.append("\(i)/\(count)")
        case .environment(let variable): args += ["\(count)", "--shard-env", variable]
        }
        return args + ["--attempts", "\(attempts)"] + selection + workerArguments
    }

    /// --time/--bbox of a run as worker arguments, so workers select exactly the run's jobs.
    public static func selectionArguments(time: [String], bbox: [Double]?) -> [String] {
        var args: [String] = []
        for t in time { args += ["--time", t] }
        if let bbox { args += ["--bbox", bbox.map { "\($0)" }.joined(separator: ",")] }
        return args
    }

    // MARK: shards

    /// "I/N", or with `variable` just "N" (or "I/N", whose I the variable overrides).
    public static func parseShard(_ text: String, variable: String?,
                                  environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (index: Int, count: Int) {
        let parts = text.split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        var index: Int?
        let count: Int?
        switch parts.count {
        case 1 where variable != nil: count = parts[0]
        case 2: index = parts[0]; count = parts[1]
        default: throw BadShard(description: "--shard '\(text)' is not I/N (e.g. 0/4)\(variable != nil ? " or N" : "")")
        }
        guard let n = count, n >= 1 else { throw BadShard(description: "--shard '\(text)': N must be a positive integer") }
        if let variable {
            guard let raw = environment[variable] else {
                throw BadShard(description: "--shard-env \(variable): the variable is not set")
            }
            guard let i = Int(raw.trimmingCharacters(in: .whitespaces)) else {
                throw BadShard(description: "--shard-env \(variable): '\(raw)' is not an integer")
            }
            index = i
        }
        guard let i = index, (0..<n).contains(i) else {
            throw BadShard(description: "--shard '\(text)': the index must be in 0..<\(n)")
        }
        return (i, n)
    }

    /// Shard I of N: jobs i with i mod N == I of the *selected* list (not the pending one), so
    /// every worker agrees on the shares however far the others have got.
    public static func shard(of selected: [JobID], index: Int, count: Int) -> Set<JobID> {
        Set(selected.enumerated().filter { $0.offset % count == index }.map(\.element))
    }

    // MARK: lines

    public static func requestLine(job: String) -> Data { Data((job + "\n").utf8) }

    /// The job name of a request line; nil for a blank line.
    public static func parseRequest(_ line: String) -> String? {
        let name = line.trimmingCharacters(in: .whitespaces)
        return name.isEmpty ? nil : name
    }

    /// The reply as one JSON line (with its newline): a done record with "status": "done", or
    /// {"job", "status": "failed"|"retrying", "attempt", "error"}.
    public static func replyLine(_ reply: Reply) -> Data? {
        var object: [String: Any]
        switch reply {
        case .done(let record):
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? enc.encode(record),
                  let decoded = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
            object = decoded
            object["status"] = "done"
        case .failed(let job, let attempt, let final, let error):
            object = ["job": job, "status": final ? "failed" : "retrying", "attempt": attempt, "error": error]
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return data + Data("\n".utf8)
    }

    public struct BadReply: Error, CustomStringConvertible {
        public let description: String
    }

    /// A reply line back into its outcome; throws for a line that is not a job record.
    public static func parseReply(_ line: String) throws -> Reply {
        let data = Data(line.utf8)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let status = object["status"] as? String else {
            throw BadReply(description: "worker replied with something that is not a job record: \(line.prefix(200))")
        }
        if status == "done", let record = try? JSONDecoder().decode(DoneRecord.self, from: data) {
            return .done(record)
        }
        return .failed(job: object["job"] as? String ?? "", attempt: object["attempt"] as? Int ?? 1,
                       final: status != "retrying", error: (object["error"] as? String) ?? "job failed")
    }
}
