import CubeCore
import CubeJobs
import CubePlan
import Foundation

/// What a run did, kept with the store at `_cube/report.json` and printed as a summary.
public struct RunReport: Codable, Sendable {
    public static let key = StoreKeys.report

    public struct Jobs: Codable, Sendable {
        /// Land chunks × time bins: every job of the cube.
        public var total: Int
        /// Jobs this run was asked to cover (all, or those matching --time/--bbox).
        public var selected: Int
        /// Of the selected jobs, those done before this run started.
        public var already_done: Int
        public var done_this_run: Int
        /// Done jobs whose chunk had no valid pixel (no data chunks written), this run.
        public var empty_this_run: Int
        public var failed: Int
        /// Selected jobs neither done nor failed (the run was stopped).
        public var pending: Int
        /// Ocean chunks × time bins: never built, read as fill value.
        public var skipped_ocean: Int
        /// Every job of the cube that has a done record now.
        public var done_in_store: Int
    }

    public struct Scenes: Codable, Sendable {
        public var used: Int
        public var skipped: Int
        /// Skipped scenes by kind of reason (unreadable, outside the chunk, duplicate, ...).
        public var skip_reasons: [String: Int]
        /// Every scene that could not be read (broken file, missing asset, wrong CRS), once,
        /// with the first reason met (at most 1000).
        public var unreadable: [SkippedScene]
    }

    public struct Failure: Codable, Sendable {
        public var job: String
        public var error: String
        public var attempts: Int
    }

    public var cube: String
    public var store: String
    public var executor: String
    public var workers: Int
    public var started: String
    public var finished: String
    public var wall_seconds: Double
    public var interrupted: Bool
    public var jobs: Jobs
    public var scenes: Scenes
    public var bytes_read: Int
    public var bytes_written: Int
    public var failures: [Failure]
    /// True once every land job of the cube is done (also the root attribute cube:complete).
    public var complete: Bool
    /// Quicklook PNG per time bin label, as store keys.
    public var previews: [String: String]
    /// The scene index snapshot the build reads (nil: workers searched the catalog).
    public var index_snapshot: String?
    /// Requests the jobs of this run sent to COG servers.
    public var requests: Int?
    /// Pyramid chunks built (and failed) after the base level (nil: the cube has no pyramid).
    public var pyramid: PyramidSummary?
    /// Time bins readers see (the arrays' time length) and how many of them are complete.
    public var published_bins: Int?
    public var complete_bins: Int?
    /// What `cube update` found changed and handed to this run (nil for a plain run).
    public var update: UpdateSummary?
    /// The commit this run ended in, for a store that keeps versions (an Icechunk repository).
    public var commit: String?

    public struct UpdateSummary: Codable, Sendable, Equatable {
        public var bins: [String]
        /// Jobs rebuilt because their scenes changed (or they were empty before).
        public var jobs_rebuilt: Int
        /// Jobs whose every scene was withdrawn: their chunks were removed.
        public var jobs_emptied: Int
        public var scenes_added: Int
        public var scenes_withdrawn: Int
        public var scenes_replaced: Int
        public var scenes_changed: Int

        public init(bins: [String], jobs_rebuilt: Int, jobs_emptied: Int, scenes_added: Int, scenes_withdrawn: Int,
                    scenes_replaced: Int, scenes_changed: Int) {
            self.bins = bins
            self.jobs_rebuilt = jobs_rebuilt
            self.jobs_emptied = jobs_emptied
            self.scenes_added = scenes_added
            self.scenes_withdrawn = scenes_withdrawn
            self.scenes_replaced = scenes_replaced
            self.scenes_changed = scenes_changed
        }
    }

    public struct PyramidSummary: Codable, Sendable {
        public var levels: Int
        public var built: Int
        public var empty: Int
        public var already_built: Int
        public var failed: [String]
    }

    public func encoded(pretty: Bool = true) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    public var summary: String {
        var lines: [String] = []
        let state = complete ? "complete" : interrupted ? "interrupted" : jobs.failed > 0 ? "incomplete (failures)" : "incomplete"
        lines.append("cube \(cube): \(state)")
        lines.append(String(format: "jobs:    %d done this run (%d empty), %d already done, %d failed, %d pending; %d of %d in the store",
                            jobs.done_this_run, jobs.empty_this_run, jobs.already_done, jobs.failed, jobs.pending,
                            jobs.done_in_store, jobs.total))
        lines.append("ocean:   \(jobs.skipped_ocean) ocean jobs skipped")
        let reasons = scenes.skip_reasons.sorted { $0.value > $1.value }.prefix(4)
            .map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        lines.append("scenes:  \(scenes.used) read, \(scenes.skipped) skipped\(reasons.isEmpty ? "" : " (\(reasons))")")
        lines.append(String(format: "bytes:   %@ read, %@ written", Self.size(bytes_read), Self.size(bytes_written))
                     + (requests.map { " (\($0) requests)" } ?? ""))
        if let update {
            lines.append("update:  \(update.jobs_rebuilt) jobs rebuilt, \(update.jobs_emptied) emptied (scenes: \(update.scenes_added) added, \(update.scenes_withdrawn) withdrawn, \(update.scenes_replaced) replaced, \(update.scenes_changed) changed)")
        }
        if let published_bins, let complete_bins {
            lines.append("time:    readers see \(published_bins) time step\(published_bins == 1 ? "" : "s"), \(complete_bins) complete")
        }
        if let commit { lines.append("commit:  \(commit) on main (`cube log \(store)`)") }
        if let index_snapshot { lines.append("index:   snapshot \(index_snapshot) (\(StoreKeys.indexSnapshot))") }
        lines.append(String(format: "time:    %.1f s with %d %@ worker%@", wall_seconds, workers, executor, workers == 1 ? "" : "s"))
        for u in scenes.unreadable.prefix(10) { lines.append("skipped: \(u.id): \(u.reason)") }
        if scenes.unreadable.count > 10 { lines.append("skipped: … and \(scenes.unreadable.count - 10) more unreadable scenes (see \(RunReport.key))") }
        for f in failures.prefix(10) { lines.append("failed:  \(f.job) after \(f.attempts) attempt(s): \(f.error)") }
        if failures.count > 10 { lines.append("failed:  … and \(failures.count - 10) more (see \(RunReport.key))") }
        for (label, key) in previews.sorted(by: { $0.key < $1.key }) { lines.append("preview: \(label) → \(key)") }
        return lines.joined(separator: "\n")
    }

    static func size(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f %@", v, units[i])
    }

    /// Groups free-text skip reasons into a few kinds for the report.
    static func reasonKind(_ reason: String) -> String {
        let r = reason.lowercased()
        if r.hasPrefix("unreadable") { return "unreadable" }
        if r.hasPrefix("reprocessed duplicate") { return "reprocessed duplicate" }
        if r.hasPrefix("datetime") { return "outside the time bin" }
        if r.contains("cloud_cover") { return "too cloudy" }
        if r.hasPrefix("footprint") || r.hasPrefix("outside the chunk") { return "outside the chunk" }
        if r.hasPrefix("no usable pixel") || r.hasPrefix("no valid pixel") { return "no usable pixel" }
        if r.hasPrefix("same-day observation") { return "same-day observation complete" }
        if r.hasPrefix("collection") { return "other collection" }
        return String(reason.prefix(40))
    }
}

extension RunReport {
    /// What the coordinator knows at a run's end; the report is counted from it.
    struct Facts {
        var cube: String
        var store: String
        var executor: String
        var workers: Int
        var started: Date
        var interrupted: Bool
        var plan: Plan
        var selected: [JobID]
        var doneBefore: Set<JobID>
        var doneNow: Set<JobID>
        /// Done records of the jobs this run built.
        var records: [JobID: DoneRecord]
        /// Failure records in the store now.
        var storedFailures: [JobID: FailureRecord]
        /// Jobs the run's queue saw fail for good.
        var queueFailures: [JobID: (error: String, attempts: Int)]
        var previews: [String: String]
        var indexSnapshot: String?
        var pyramid: PyramidSummary?
        /// Bins readers see after the run's publication, and the complete ones among them.
        var publishedBins: Int
        var completeBins: Int
        var update: UpdateSummary?
        var commit: String?
    }

    init(_ f: Facts, finished: Date = Date()) {
        let selectedSet = Set(f.selected)
        let newlyDone = f.doneNow.subtracting(f.doneBefore).intersection(selectedSet)
        var reasons: [String: Int] = [:]
        var skipped = 0
        var unreadable: [String: SkippedScene] = [:]
        for job in f.records.keys.sorted() {
            let r = f.records[job]!
            skipped += r.scenes_skipped.count
            for s in r.scenes_skipped {
                let kind = RunReport.reasonKind(s.reason)
                reasons[kind, default: 0] += 1
                if kind == "unreadable", unreadable[s.id] == nil, unreadable.count < 1000 { unreadable[s.id] = s }
            }
        }
        let allJobs = JobID.all(in: f.plan)
        // Failures of this run come from the queue too: a failure record may not have reached
        // the store (full disk, lost bucket), and the report must still say so.
        var failedSelected = f.storedFailures.filter { selectedSet.contains($0.key) && !f.doneNow.contains($0.key) }
        for (job, failure) in f.queueFailures where !f.doneNow.contains(job) {
            failedSelected[job] = FailureRecord(job: job.name(in: f.plan), error: failure.error, attempts: failure.attempts,
                                                failed: ISO8601DateFormatter().string(from: finished))
        }
        self.init(
            cube: f.cube, store: f.store, executor: f.executor, workers: f.workers,
            started: ISO8601DateFormatter().string(from: f.started),
            finished: ISO8601DateFormatter().string(from: finished),
            wall_seconds: finished.timeIntervalSince(f.started), interrupted: f.interrupted,
            jobs: .init(total: allJobs.count, selected: f.selected.count,
                        already_done: f.doneBefore.intersection(selectedSet).count,
                        done_this_run: newlyDone.count,
                        empty_this_run: newlyDone.filter { f.records[$0]?.wrote_chunks == false }.count,
                        failed: failedSelected.count,
                        pending: f.selected.filter { !f.doneNow.contains($0) && failedSelected[$0] == nil }.count,
                        skipped_ocean: f.plan.oceanChunkCount * f.plan.bins.count,
                        done_in_store: f.doneNow.count),
            scenes: .init(used: f.records.values.reduce(0) { $0 + $1.scenes_used }, skipped: skipped, skip_reasons: reasons,
                          unreadable: unreadable.values.sorted { $0.id < $1.id }),
            bytes_read: f.records.values.reduce(0) { $0 + $1.bytes_read },
            bytes_written: f.records.values.reduce(0) { $0 + $1.bytes_written },
            failures: failedSelected.sorted { $0.key < $1.key }.map {
                .init(job: $0.value.job, error: $0.value.error, attempts: $0.value.attempts)
            },
            complete: allJobs.allSatisfy(f.doneNow.contains), previews: f.previews, index_snapshot: f.indexSnapshot,
            requests: newlyDone.reduce(0) { $0 + (f.records[$1]?.requests ?? 0) },
            pyramid: f.pyramid, published_bins: f.publishedBins, complete_bins: f.completeBins,
            update: f.update, commit: f.commit)
    }
}
