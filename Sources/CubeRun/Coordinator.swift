import CubeCore
import CubeJobs
import CubePlan
import CubePreview
import CubePyramid
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import JSON
import Synchronization

extension Executor where Self == LocalExecutor {
    /// N worker processes on this machine (`RunOptions(executor: .local(workers: 4))`).
    public static func local(workers: Int) -> LocalExecutor { LocalExecutor(workers: workers) }
}

public struct RunOptions: Sendable {
    public var executor: any Executor
    public var attempts: Int
    public var time: [String]
    public var bbox: [Double]?
    public var display: DisplayMode
    public var previews: Bool
    /// Passed to every worker (threads, memory budget).
    public var workerArguments: [String]
    /// The `cube` executable workers run (this one by default).
    public var executable: String
    /// For a store with versions: a commit for every bin completed during the run, not only
    /// the run's last one (readers then follow a long build bin by bin).
    public var commitEachBin: Bool

    public init(executor: some Executor, attempts: Int = 3, time: [String] = [], bbox: [Double]? = nil,
                display: DisplayMode = .lines, previews: Bool = true, workerArguments: [String] = [],
                executable: String = Coordinator.currentExecutable(), commitEachBin: Bool = false) {
        self.executor = executor
        self.attempts = attempts
        self.time = time
        self.bbox = bbox
        self.display = display
        self.previews = previews
        self.workerArguments = workerArguments
        self.executable = executable
        self.commitEachBin = commitEachBin
    }
}

/// `cube run`: takes the store's run lock, works out the pending jobs, hands them to an
/// executor, records failures, writes the run report, renders quicklooks and marks the cube
/// complete when every land job is done. Everything it knows lives in the store, so a run can
/// be stopped at any moment and the next one continues.
public final class Coordinator: Sendable {
    public let store: any Store
    public let storeLocation: String
    public let options: RunOptions
    public let layout: CubeLayout
    public let plan: Plan
    public let spec: CubeSpec
    let ledger: JobLedger
    let cubeName: String

    /// What an update changed per bin (for the bins' STAC items), set by `cube update`.
    public var publicationNotes: [Int: JSONValue] {
        get { notes.withLock { $0 } }
        set { notes.withLock { $0 = newValue } }
    }
    private let notes = Mutex<[Int: JSONValue]>([:])

    /// What `cube update` changed, for the run report.
    public var updateSummary: RunReport.UpdateSummary? {
        get { summary.withLock { $0 } }
        set { summary.withLock { $0 = newValue } }
    }
    private let summary = Mutex<RunReport.UpdateSummary?>(nil)

    /// Where the run's metadata goes and how it reaches readers (see `WriteSession`).
    let session: any WriteSession
    /// The last commit this run made (a store with versions).
    private let lastCommit = Mutex<String?>(nil)

    public init(store: any Store, storeLocation: String, options: RunOptions) throws {
        self.store = store
        session = try beginSession(store, SessionOptions(versionEachPublication: options.commitEachBin))
        self.storeLocation = storeLocation
        self.options = options
        let opened = try CubeSchema.open(store: store)
        layout = opened.layout
        plan = opened.plan
        spec = opened.spec
        cubeName = opened.spec.name
        ledger = JobLedger(store: store, plan: plan)
    }

    /// --time/--bbox as worker arguments.
    var selectionArguments: [String] {
        WorkerProtocol.selectionArguments(time: options.time, bbox: options.bbox)
    }

    /// Builds the pyramid levels of every bin whose base jobs are all done (chunks built by an
    /// earlier run are skipped); nil when the cube has no pyramid.
    func buildPyramid(done: Set<JobID>, display: ProgressDisplay) throws -> PyramidBuilder.Report? {
        guard layout.hasPyramid else { return nil }
        // The workers' chunks of a store that stages them (Icechunk) become readable here.
        try session.refresh()
        let bins = completeBins(done).sorted()
        guard !bins.isEmpty else { return PyramidBuilder.Report() }
        let report = try PyramidBuilder(layout: layout, store: store).build(bins: bins)
        guard report.built + report.empty > 0 || !report.failed.isEmpty else { return report }
        display.note("pyramid (\(layout.levels.count - 1) levels, \(bins.count) bins): \(report.built) chunks built, \(report.empty) empty, \(report.alreadyDone) already built" + (report.failed.isEmpty ? "" : ", \(report.failed.count) FAILED: \(report.failed.first!)"))
        return report
    }

    /// Bins whose every land job is in `done`.
    func completeBins(_ done: Set<JobID>) -> Set<Int> {
        var remaining = [Int](repeating: plan.landChunkCount, count: plan.bins.count)
        for job in done where job.bin < remaining.count { remaining[job.bin] -= 1 }
        return Set(remaining.indices.filter { remaining[$0] <= 0 })
    }

    /// Publishes the complete bins (see `CubeSchema.publish`): readers see a bin once every
    /// job and pyramid chunk of it, and of every bin before it, is done. The metadata goes
    /// through the run's write session, which then publishes (a commit, for a store with versions).
    /// `interim`: a bin completed during the run (a commit only with `commitEachBin`).
    @discardableResult
    func publish(done: Set<JobID>, pyramidFailed: Set<Int>, display: ProgressDisplay, interim: Bool) throws -> PublishOutcome {
        let outcome = try CubeSchema.publish(spec: spec, layout: layout, store: session.store,
                                             complete: completeBins(done).subtracting(pyramidFailed),
                                             notes: publicationNotes)
        // A store that stages writes publishes at a run's end even when the shape stayed (an
        // update's rebuilt chunks, a resumed run's staged work).
        if try outcome.changed || !publicationNotes.isEmpty || (!interim && session.hasUnpublishedWrites) {
            let bins = plan.bins.prefix(outcome.after).map(\.label)
            let jobs = JobID.all(in: plan).count
            let what = updateSummary.map { "update of \($0.bins.joined(separator: ", ")): \($0.jobs_rebuilt) jobs rebuilt, \($0.jobs_emptied) emptied; " } ?? ""
            let id = try session.publish(PublicationNote(
                message: "\(cubeName): \(what)\(outcome.after) time steps (\(bins.first ?? "-")..\(bins.last ?? "-")), \(outcome.completeAfter) complete; \(done.count) of \(jobs) jobs done",
                metadata: ["cube:version": CubeSchema.toolVersion, "index_snapshot": Self.indexSnapshot(store) ?? "",
                           "spec_digest": CubeSchema.specDigest(spec), "jobs_done": "\(done.count)", "jobs": "\(jobs)",
                           "published_bins": "\(outcome.after)", "complete_bins": "\(outcome.completeAfter)"],
                interim: interim))
            if let id {
                lastCommit.withLock { $0 = id }
                display.note("committed \(id) on main")
            }
        }
        if outcome.after > outcome.before {
            display.note("published \(outcome.after - outcome.before) new time step\(outcome.after - outcome.before == 1 ? "" : "s") (\(plan.bins[outcome.before].label)..\(plan.bins[outcome.after - 1].label)): readers now see \(outcome.after)")
        }
        return outcome
    }

    /// Publishes what the store's done records say now (no run): `cube update` calls it after
    /// forgetting the jobs it rebuilds, so their bins read as incomplete while they are rebuilt.
    public func publishNow() throws {
        let display = ProgressDisplay(mode: .quiet, snapshot: { JobQueue(jobs: [], maxAttempts: 1).snapshot() })
        try publish(done: try ledger.doneJobs(), pyramidFailed: [], display: display, interim: true)
    }

    /// The id of the store's scene index snapshot (`_cube/index/snapshot.json`), if any.
    static func indexSnapshot(_ store: any Store) -> String? {
        struct Snapshot: Decodable { let snapshot: String }
        guard let data = try? store.get(StoreKeys.indexSnapshot) else { return nil }
        return (try? JSONDecoder().decode(Snapshot.self, from: data))?.snapshot
    }

    public static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// Runs and returns the report (also stored at `_cube/report.json`). `lock`: the run lock
    /// when the caller holds it already (`cube update`), else the run takes it.
    public func run(holding held: RunLock? = nil) throws -> RunReport {
        let started = Date()
        let lock = try held ?? RunLock.acquire(store: store, executor: options.executor.name)
        defer { if held == nil { lock.release() } }
        if let pending = try store.get(UpdateJournal.key), held == nil {
            let journal = try? JSONDecoder().decode(UpdateJournal.self, from: pending)
            throw JobError("an interrupted `cube update` (started \(journal?.started ?? "?")) must finish first: run `cube update \(storeLocation)` again")
        }
        // A coordinator that lost its lock stops: no new jobs, nothing published, no report.
        let lost = Mutex<RunLock.Lost?>(nil)
        let stopQueue = Mutex<JobQueue?>(nil)
        let heartbeat = DispatchSource.makeTimerSource(queue: .global())
        let beat = RunLock.heartbeatInterval
        heartbeat.schedule(deadline: .now() + beat, repeating: beat)
        heartbeat.setEventHandler {
            do { try lock.heartbeat() } catch let error as RunLock.Lost {
                let first = lost.withLock { l -> Bool in defer { l = l ?? error }; return l == nil }
                if first {
                    FileHandle.standardError.write(Data("cube: \(error); stopping: no new jobs, running jobs finish, nothing is published\n".utf8))
                    stopQueue.withLock { $0?.stop() }
                }
            } catch {
                // The store's own failure (a passing network error): the next beat tries again.
            }
        }
        heartbeat.resume()
        defer { heartbeat.cancel() }

        if let local = store as? LocalStore { local.removeStaleTemporaries() }

        let selected = try JobSelection.select(plan, time: options.time, bbox: options.bbox)
        let doneBefore = try ledger.doneJobs()
        let pending = selected.filter { !doneBefore.contains($0) }
        let queue = JobQueue(jobs: pending, maxAttempts: options.attempts)
        stopQueue.withLock { $0 = queue }
        if lost.withLock({ $0 != nil }) { queue.stop() }
        let publisher = BinPublisher(coordinator: self, allJobs: JobID.all(in: plan), done: doneBefore,
                                     lockLost: { lost.withLock { $0 != nil } })
        let display = ProgressDisplay(mode: options.display, snapshot: { queue.snapshot() })
        let executor = options.executor
        let workers = executor.workers(pending: pending.count)
        display.note("\(cubeName): \(selected.count) jobs selected, \(selected.count - pending.count) already done, \(pending.count) to build with \(workers) \(executor.name) worker\(workers == 1 ? "" : "s")")

        let signals = SignalTrap()
        var interrupted = false
        if !pending.isEmpty {
            display.start()
            signals.install(
                first: {
                    queue.stop()
                    display.note(executor.stoppingNote)
                },
                second: {
                    if let note = executor.abort() { display.note(note) }
                })
            let context = ExecutionContext(
                queue: queue, selected: selected, pending: pending, ledger: ledger, plan: plan, storeLocation: storeLocation,
                executable: options.executable, attempts: options.attempts, selectionArguments: selectionArguments,
                workerArguments: options.workerArguments, display: display,
                onEvent: { event in
                    display.event(event)
                    if case .done(let job, _) = event, let id = try? JobID.parse(job, plan: self.plan) {
                        publisher.jobDone(id, display: display)
                    }
                    if case .failed(let job, let attempts, let error) = event, let id = try? JobID.parse(job, plan: self.plan) {
                        try? self.ledger.markFailed(id, FailureRecord(job: job, error: error, attempts: attempts,
                                                                      failed: ISO8601DateFormatter().string(from: Date())))
                    }
                })
            try executor.run(context)
            display.stop()
            interrupted = queue.isStopped
        }
        signals.uninstall()
        publisher.waitIdle()
        if let error = lost.withLock({ $0 }) {
            throw JobError("\(error): this run stopped after its running jobs and published nothing; the run that holds the lock carries on")
        }

        return try finish(started: started, selected: selected, doneBefore: doneBefore, queue: queue,
                          workers: workers, interrupted: interrupted, display: display,
                          pyramidSoFar: publisher.pyramidReport)
    }

    /// The run's end: the pyramid of every complete bin, the final publication, the previews,
    /// then the report (counted by `RunReport(_:)`), stored at `_cube/report.json`.
    private func finish(started: Date, selected: [JobID], doneBefore: Set<JobID>, queue: JobQueue,
                        workers: Int, interrupted: Bool, display: ProgressDisplay,
                        pyramidSoFar: PyramidBuilder.Report) throws -> RunReport {
        let doneNow = try ledger.doneJobs()
        let newlyDone = doneNow.subtracting(doneBefore).intersection(Set(selected))
        // Records of this run: from the workers' replies (local) or the store (cluster).
        var records = queue.records
        for job in newlyDone where records[job] == nil {
            if let r = try ledger.record(job) { records[job] = r }
        }
        // Chunks the bin-by-bin publications built count as this run's, not as already built.
        let pyramid = try buildPyramid(done: doneNow, display: display).map { last -> PyramidBuilder.Report in
            var r = last
            r.built += pyramidSoFar.built
            r.empty += pyramidSoFar.empty
            r.alreadyDone = max(0, r.alreadyDone - pyramidSoFar.built - pyramidSoFar.empty)
            return r
        }
        let published = try publish(done: doneNow, pyramidFailed: pyramid?.failedBins ?? [], display: display, interim: false)

        var previews: [String: String] = [:]
        if options.previews && !newlyDone.isEmpty {
            let bins = Set(newlyDone.map(\.bin)).sorted()
            for bin in bins {
                let label = plan.bins[bin].label
                let key = StoreKeys.preview(label)
                do {
                    let png = try Quicklook(layout: layout, store: store).png(bin: bin)
                    try store.put(key, png)
                    previews[label] = key
                } catch {
                    display.note("preview \(label): \(error)")
                }
            }
        }
        let report = RunReport(RunReport.Facts(
            cube: cubeName, store: storeLocation, executor: options.executor.name, workers: workers,
            started: started, interrupted: interrupted, plan: plan, selected: selected,
            doneBefore: doneBefore, doneNow: doneNow, records: records,
            storedFailures: try ledger.failures(), queueFailures: queue.failures,
            previews: previews, indexSnapshot: Self.indexSnapshot(store),
            pyramid: pyramid.map { .init(levels: layout.levels.count - 1, built: $0.built, empty: $0.empty,
                                         already_built: $0.alreadyDone, failed: $0.failed) },
            publishedBins: published.after, completeBins: published.completeAfter, update: updateSummary, commit: lastCommit.withLock { $0 }))
        do {
            try store.put(RunReport.key, report.encoded())
        } catch {
            // A full disk or a lost bucket must not hide what the run did: the report is
            // still printed, and the store keeps the previous one.
            display.note("could not store the run report: \(error)")
        }
        return report
    }
}

/// SIGINT/SIGTERM: the first stops handing out jobs, the second aborts.
final class SignalTrap: Sendable {
    private let state = Mutex((sources: [DispatchSourceSignal](), count: 0))

    func install(first: @escaping @Sendable () -> Void, second: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let n = self?.state.withLock({ s -> Int in s.count += 1; return s.count }) else { return }
                if n == 1 { first() } else if n == 2 { second() }
            }
            source.resume()
            state.withLock { $0.sources.append(source) }
        }
    }

    func uninstall() {
        state.withLock { s in
            for source in s.sources { source.cancel() }
            s.sources = []
        }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
