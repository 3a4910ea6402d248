import CubeJobs
import CubePlan
import Foundation

/// Where the work of a `cube run` runs. The coordinator takes the lock, works out the pending
/// jobs and hands them to `run`; what happens after (pyramid, publication, the report) is the
/// same for every executor. Each executor drives `cube worker` through `WorkerProtocol`.
///
/// Adding one: a file with a type conforming to `RegisteredExecutor`, and its line in
/// `ExecutorRegistry.all`.
public protocol Executor: Sendable {
    /// As in the run report and the run lock (`local`, `slurm`, `dask`).
    var name: String { get }
    /// Workers (processes, array tasks, shards) used for `pending` jobs.
    func workers(pending: Int) -> Int
    /// Runs until the pending jobs are done or failed, or the queue is stopped. Executors that
    /// hand out jobs one by one take them from `context.queue` and report each through
    /// `context.onEvent`; executors whose workers take shards follow the store (the ledger)
    /// and tell the queue what they see (`JobQueue.observe`).
    func run(_ context: ExecutionContext) throws
    /// What the first Ctrl-C prints; the coordinator stops the queue, `run` sees it.
    var stoppingNote: String { get }
    /// The second Ctrl-C: kill what runs now. Returns what to print (nil: nothing to abort).
    func abort() -> String?
}

extension RegisteredExecutor {
    public static var exclusiveOptions: [String] { [] }
}

extension Executor {
    public var stoppingNote: String { "stopping: no new jobs; running jobs finish" }
    public func abort() -> String? { nil }
}

/// What an executor gets from the coordinator.
public struct ExecutionContext: Sendable {
    public let queue: JobQueue
    /// The jobs the run covers (all, or those of --time/--bbox), in plan order: the list
    /// `--shard I/N` splits.
    public let selected: [JobID]
    /// The selected jobs not done when the run started.
    public let pending: [JobID]
    public let ledger: JobLedger
    public let plan: Plan
    public let storeLocation: String
    /// The `cube` executable workers run.
    public let executable: String
    public let attempts: Int
    /// --time/--bbox as worker arguments (see `WorkerProtocol.selectionArguments`).
    public let selectionArguments: [String]
    /// Passed to every worker (threads, memory budget).
    public let workerArguments: [String]
    public let display: ProgressDisplay
    /// For each job outcome an executor sees one by one: the coordinator records failures
    /// and publishes bins as they complete. Called from any thread.
    public let onEvent: @Sendable (RunEvent) -> Void
}

/// An executor that hands the work to a system which runs it without a coordinator
/// (Kubernetes: `kubectl apply` of an Indexed Job): it writes what to submit and returns.
/// No lock, no report: the workers share only the store, and the next `cube run` or
/// `cube status` sees what they did.
public protocol ManifestExecutor: Sendable {
    /// Writes the manifest; returns the message for the user.
    func emit(_ request: ManifestRequest) throws -> String
}

public struct ManifestRequest: Sendable {
    public var storeLocation: String
    public var attempts: Int
    public var time: [String]
    public var bbox: [Double]?
    public var workerArguments: [String]

    public init(storeLocation: String, attempts: Int, time: [String], bbox: [Double]?, workerArguments: [String]) {
        self.storeLocation = storeLocation
        self.attempts = attempts
        self.time = time
        self.bbox = bbox
        self.workerArguments = workerArguments
    }
}

/// The command line's executor options, by option name (without the dashes), so a new
/// executor reads its own options without a field here.
public struct ExecutorOptions: Sendable {
    /// --workers, when given.
    public var workers: Int?
    public var values: [String: [String]]

    public init(workers: Int?, values: [String: [String]] = [:]) {
        self.workers = workers
        self.values = values
    }

    /// The last value of an option, nil when not given.
    public func value(_ name: String) -> String? { values[name]?.last }
    public func list(_ name: String) -> [String] { values[name] ?? [] }

    public func required(_ name: String, for executor: String) throws -> String {
        guard let v = value(name), !v.isEmpty else { throw JobError("--executor \(executor) needs --\(name)") }
        return v
    }
}

/// An executor as the command line knows it.
public enum ResolvedExecutor: Sendable {
    case coordinated(any Executor)
    case manifest(any ManifestExecutor)
}

public protocol RegisteredExecutor {
    static var name: String { get }
    /// Options that make sense with this executor only: given with another, they are an error.
    static var exclusiveOptions: [String] { get }
    static func make(_ options: ExecutorOptions) throws -> ResolvedExecutor
}

public enum ExecutorRegistry {
    /// Every executor `cube run --executor NAME` knows.
    public static var all: [any RegisteredExecutor.Type] {
        [
            LocalExecutor.self,
            SlurmExecutor.self,
            KubernetesExecutor.self,
            DaskExecutor.self,
        ]
    }

    public static var names: [String] { all.map { $0.name } }

    public static func resolve(_ name: String, _ options: ExecutorOptions) throws -> ResolvedExecutor {
        guard let type = all.first(where: { $0.name == name }) else {
            throw JobError("--executor must be one of \(names.joined(separator: ", ")), not '\(name)'")
        }
        let foreign = all.filter { $0.name != name }.flatMap { $0.exclusiveOptions }
            .filter { !type.exclusiveOptions.contains($0) && options.values[$0] != nil }
        if let option = foreign.first {
            let owner = all.first { $0.exclusiveOptions.contains(option) }!.name
            throw JobError("--\(option) is only for --executor \(owner)")
        }
        return try type.make(options)
    }
}
