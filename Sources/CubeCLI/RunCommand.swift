import ArgumentParser
import CubeJobs
import CubePlan
import CubeRun
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import SceneIndex

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Build the cube: fan the pending land chunk jobs out to worker processes.",
        discussion: """
        Given a spec, initialises the store first if needed (like `cube init`); given a store, \
        continues building it. Jobs already done are skipped, so an interrupted run (Ctrl-C, \
        a killed machine) is resumed by running the same command again.

        Executors: `local` (default) runs --workers processes here; `slurm` submits a job array \
        (`sbatch --array`) whose tasks run `cube worker --shard` and follows them through the \
        store and the Slurm queue; `dask` submits one task per shard to a Dask scheduler \
        (--scheduler; cube must be installed on the Dask workers) and follows them the same way; \
        `kubernetes` only writes an Indexed Job manifest (--emit) for `kubectl apply`. A failed job is retried (--attempts, with backoff); a job that keeps \
        failing is recorded with its error and the run goes on; the exit code is 1 when any job \
        failed for good, 130 when the run was interrupted.

        The run report goes to _cube/report.json in the store and is printed as a summary; a \
        quicklook PNG per time bin built goes to _cube/previews/. Each bin's completeness is the \
        root attribute cube:bins_complete; when every land job is done, cube:complete becomes true.

        A spec that differs from the stored one only by a later time.end appends the new time \
        bins: they are indexed, built outside the published shape and published (array shapes, \
        time coordinate, STAC items, consolidated metadata) once complete; nothing of the \
        existing bins is rewritten. `cube update` rebuilds the jobs whose scenes changed.
        """
    )

    @Argument(help: "A cube spec (YAML) or the store of an initialised cube.")
    var target: String

    @Option(help: "Store location; overrides the spec's `store` (only with a spec).")
    var store: String?

    @Option(help: ArgumentHelp("Where workers run: \(ExecutorRegistry.names.joined(separator: ", ")) (see docs/running.md)."))
    var executor: String = "local"

    @Option(help: "Worker processes (local; default: the number of cores) or shards: array tasks (slurm, kubernetes), Dask tasks (dask); default 16.")
    var workers: Int?

    @Option(help: "Attempts per job before it counts as failed.")
    var attempts = 3

    @Option(help: "Only these time bins: a label (2024-03), a list or an inclusive range (2024-03..2024-06). Repeatable.")
    var time: [String] = []

    @Option(help: "Only chunks touching this lon/lat box: WEST,SOUTH,EAST,NORTH.")
    var bbox: String?

    @Option(help: "Median threads per worker job.")
    var threads = 1

    @Option(name: .customLong("memory-mib"), help: "Memory budget per worker job, MiB.")
    var memoryMiB = 512

    @Option(help: "Observations each worker reads at once (see `cube worker --help`).")
    var lanes: Int?

    @Option(help: "COG range requests in flight per worker.")
    var connections = 32

    @Flag(help: "Only the final summary.")
    var quiet = false

    @Flag(help: "JSON lines on standard output: one per job event, then the run report (one line).")
    var json = false

    @Flag(name: .customLong("commit-each-bin"), help: "An Icechunk store: commit each time bin as it completes (readers follow a long build bin by bin), not only at the end of the run.")
    var commitEachBin = false

    @Flag(name: .customLong("no-previews"), help: "Do not render the quicklook PNGs.")
    var noPreviews = false

    @Option(name: .customLong("slurm-arg"), help: "An extra sbatch argument, e.g. --slurm-arg=--partition=batch (repeatable).")
    var slurmArgs: [String] = []

    @Option(name: .customLong("log-dir"), help: "Slurm: folder for the batch script and task logs (default: cube-slurm-logs).")
    var logDir: String?

    @Option(help: "Kubernetes: write the Indexed Job manifest to this file ('-' for standard output).")
    var emit: String?

    @Option(help: "Kubernetes: the container image that has `cube` on its PATH (default: ghcr.io/example/cube:latest).")
    var image: String?

    @Option(help: "Kubernetes: pods running at once (default: all indexes).")
    var parallelism: Int?

    @Option(help: "Dask: the scheduler: tcp://HOST:PORT, a scheduler file (.json), dask-gateway:CLUSTER or coiled:CLUSTER.")
    var scheduler: String?

    @Option(name: .customLong("dask-python"), help: "Dask: the Python that runs cube's Dask client; it must import `distributed` (default: python3 on PATH).")
    var daskPython: String?

    @Option(name: .customLong("dask-retries"), help: "Dask: retries of a shard that exits with failed jobs (default 1; a lost worker's task is rescheduled regardless).")
    var daskRetries: Int?

    /// The executor options given on the command line, by name (see `ExecutorRegistry`).
    private var executorOptions: ExecutorOptions {
        var values: [String: [String]] = [:]
        if !slurmArgs.isEmpty { values["slurm-arg"] = slurmArgs }
        if let logDir { values["log-dir"] = [logDir] }
        if let emit { values["emit"] = [emit] }
        if let image { values["image"] = [image] }
        if let parallelism { values["parallelism"] = ["\(parallelism)"] }
        if let scheduler { values["scheduler"] = [scheduler] }
        if let daskPython { values["dask-python"] = [daskPython] }
        if let daskRetries { values["dask-retries"] = ["\(daskRetries)"] }
        return ExecutorOptions(workers: workers, values: values)
    }

    func validate() throws {
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
        if let lanes, lanes < 1 { throw ValidationError("--lanes must be at least 1") }
        if connections < 1 { throw ValidationError("--connections must be at least 1") }
        if quiet && json { throw ValidationError("--quiet and --json cannot be combined") }
        do { _ = try ExecutorRegistry.resolve(executor, executorOptions) } catch let e as JobError {
            throw ValidationError(e.description)
        }
    }

    func run() throws {
        var exitCode: Int32 = 0
        try runReportingErrors {
            let (cubeStore, location) = try openTarget()
            try ensureIndex(cubeStore)
            let bboxValues = try bbox.map(parseBBox)
            var workerArgs: [String] = []
            if threads != 1 { workerArgs += ["--threads", "\(threads)"] }
            if memoryMiB != 512 { workerArgs += ["--memory-mib", "\(memoryMiB)"] }
            if let lanes { workerArgs += ["--lanes", "\(lanes)"] }
            if connections != 32 { workerArgs += ["--connections", "\(connections)"] }

            let chosen: any Executor
            switch try ExecutorRegistry.resolve(executor, executorOptions) {
            case .manifest(let writer):
                let message = try writer.emit(ManifestRequest(storeLocation: location, attempts: attempts, time: time,
                                                              bbox: bboxValues, workerArguments: workerArgs))
                if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
                return
            case .coordinated(let e):
                chosen = e
            }
            let display: DisplayMode = quiet ? .quiet : json ? .json : ProgressDisplay.automaticMode()
            let options = RunOptions(executor: chosen, attempts: attempts, time: time, bbox: bboxValues,
                                     display: display, previews: !noPreviews, workerArguments: workerArgs,
                                     commitEachBin: commitEachBin)
            let report = try Coordinator(store: cubeStore, storeLocation: location, options: options).run()
            if json {
                print(String(decoding: try report.encoded(pretty: false), as: UTF8.self))
            } else {
                print(report.summary)
            }
            if report.interrupted { exitCode = 130 } else if report.jobs.failed > 0 { exitCode = 1 }
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    /// A spec (initialised here when needed) or a store path.
    private func openTarget() throws -> (any Store, String) {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            let spec = try loadSpec(target, store: store)
            let plan = try Plan.make(spec)
            let s = try openStore(spec.store, access: .create)
            switch try CubeSchema.initialize(spec: spec, plan: plan, store: s, force: false) {
            case .created:
                FileHandle.standardError.write(Data("initialised \(spec.store): \(plan.jobCount) jobs\n".utf8))
            case .extended(let from, let to):
                FileHandle.standardError.write(Data((extendedMessage(s, from: from, to: to, plan: try Plan.decode(s.get(Plan.storeKey) ?? Data())) + "\n").utf8))
            case .unchanged, .replaced:
                break
            }
            return (s, spec.store)
        }
        if store != nil { throw UsageError("--store goes with a spec; '\(target)' is a store already") }
        if StoreRegistry.isRegistered(target) { return (try openStore(target), target) }
        guard exists else { throw UsageError("'\(target)' is neither a spec file nor a store folder") }
        let location = URL(fileURLWithPath: target).standardizedFileURL.path
        return (try openStore(location), location)
    }
}
