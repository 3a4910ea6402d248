import ArgumentParser
import CubeCore
import CubeJobs
import CubePlan
import CubeRun
import CubeSchema
import CubeStore
import Foundation
import Icechunk

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show how far a cube's build has got: jobs done, failed and pending, the running coordinator.",
        discussion: "Reads only the store (done and failure records, the run lock, the last run report), so it works at any time, also while a run is going on, from any machine that sees the store."
    )

    @Argument(help: "The cube's store.")
    var store: String

    @Flag(help: "Print the status as JSON.")
    var json = false

    @Option(help: "One job (TIME/ROW/COL, e.g. 2024-03/4/7): its done record and the scenes it was built from.")
    var job: String?

    @Option(help: "For an Icechunk store: the version to read (a snapshot id from `cube log`, a tag or a branch). Default: the tip of main.")
    var at: String?

    func run() throws {
        try runReportingErrors {
            let s = try openStore(store, access: .read(version: at))
            let (spec, plan, layout) = try CubeSchema.open(store: s)
            let ledger = JobLedger(store: s, plan: plan)
            if let job {
                try printJob(job, ledger: ledger, plan: plan)
                return
            }
            let all = JobID.all(in: plan)
            let done = try ledger.doneJobs().intersection(all)
            let failures = try ledger.failures().filter { !done.contains($0.key) }
            let holder = try RunLock.read(s)
            let lastReport = try s.get(RunReport.key).flatMap { try? JSONDecoder().decode(RunReport.self, from: $0) }
            let complete = try CubeSchema.isComplete(store: s, layout: layout)
            let publication = try Publication.readVisible(s, binCount: plan.bins.count)
            // An Icechunk store: the version read, and what readers of it see (its root attributes).
            var version: [String: Any]?
            if let icechunk = s as? IcechunkStore {
                let id = try icechunk.snapshotId()
                let snapshot = try icechunk.repository.snapshot(id)
                let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(snapshot.flushedAt) / 1e6))
                version = ["snapshot": id.description, "message": snapshot.message, "time": time, "tip_of_main": at == nil]
            }
            let updating = try s.get(UpdateJournal.key).flatMap { try? JSONDecoder().decode(UpdateJournal.self, from: $0) }
            var perBin: [String: [String: Int]] = [:]
            for bin in plan.bins.indices {
                let jobs = all.filter { $0.bin == bin }
                perBin[plan.bins[bin].label] = [
                    "jobs": jobs.count, "done": jobs.filter(done.contains).count,
                    "failed": jobs.filter { failures[$0] != nil }.count,
                ]
            }
            // Pyramid chunks: every level above the base, every bin; each gets a done marker.
            var pyramid: (levels: Int, chunks: Int, built: Int)?
            if layout.hasPyramid {
                let chunks = layout.levels.dropFirst().reduce(0) { $0 + $1.chunkRows * $1.chunkCols } * plan.bins.count
                pyramid = (layout.levels.count - 1, chunks, try s.list(prefix: StoreKeys.pyramidPrefix).count)
            }
            var running: [String: Any]?
            if let h = holder {
                running = ["host": h.host, "pid": Int(h.pid), "started": h.started, "executor": h.executor,
                           "stale": RunLock.staleness(h, staleAfter: 90) as Any]
            }
            if json {
                var object: [String: Any] = [
                    "cube": spec.name, "store": s.description, "complete": complete,
                    "jobs": ["total": all.count, "done": done.count, "failed": failures.count,
                             "pending": all.count - done.count - failures.count],
                    "ocean_jobs_skipped": plan.oceanChunkCount * plan.bins.count,
                    "bins": perBin,
                    "failures": failures.sorted { $0.key < $1.key }.map { ["job": $0.value.job, "error": $0.value.error, "attempts": $0.value.attempts] },
                ]
                object["version"] = version ?? NSNull()
                object["published_bins"] = publication.bins
                object["complete_bins"] = publication.complete.filter { $0 }.count
                object["update_pending"] = updating.map { ["started": $0.started, "bins": $0.bins] } ?? NSNull()
                object["running"] = running ?? NSNull()
                object["pyramid"] = pyramid.map { ["levels": $0.levels, "chunks": $0.chunks, "built": $0.built] } ?? NSNull()
                object["last_run"] = lastReport.map { ["finished": $0.finished, "wall_seconds": $0.wall_seconds, "interrupted": $0.interrupted] } ?? NSNull()
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let pct = all.isEmpty ? 100 : 100 * Double(done.count) / Double(all.count)
            print("cube \(spec.name) in \(s): \(complete ? "complete" : "incomplete")")
            print(String(format: "jobs:     %d of %d done (%.1f%%), %d failed, %d pending; %d ocean jobs skipped",
                         done.count, all.count, pct, failures.count, all.count - done.count - failures.count,
                         plan.oceanChunkCount * plan.bins.count))
            for (i, bin) in plan.bins.enumerated() {
                let b = perBin[bin.label]!
                let shown = i < publication.bins ? (publication.complete[i] ? "published, complete" : "published") : "not yet published"
                print("  \(bin.label): \(b["done"]!)/\(b["jobs"]!) done\(b["failed"]! > 0 ? ", \(b["failed"]!) failed" : "") (\(shown))")
            }
            if let version {
                print("version:  \(version["snapshot"]!) (\(version["time"]!)): \(version["message"]!)\(at == nil ? " (the tip of main)" : "")")
            }
            print("readers:  \(publication.bins) of \(plan.bins.count) time steps published, \(publication.complete.filter { $0 }.count) complete")
            if let updating {
                print("update:   an update of \(updating.bins.joined(separator: ", ")) started \(updating.started) is not finished: run `cube update \(s)` again")
            }
            if let p = pyramid {
                print("pyramid:  \(p.built) of \(p.chunks) level chunks built (\(p.levels) levels above the base)")
            }
            if let h = holder {
                let stale = RunLock.staleness(h, staleAfter: 90)
                print("running:  \(h.executor) run, pid \(h.pid) on \(h.host), started \(h.started)\(stale.map { " (stale: \($0))" } ?? "")")
            } else {
                print("running:  no run holds the store")
            }
            if let r = lastReport {
                print(String(format: "last run: finished %@ after %.1f s%@", r.finished, r.wall_seconds, r.interrupted ? " (interrupted)" : ""))
            }
            for (_, f) in failures.sorted(by: { $0.key < $1.key }).prefix(20) {
                print("failed:   \(f.job) after \(f.attempts) attempt(s): \(f.error)")
            }
        }
    }
}

extension StatusCommand {
    /// `--job`: the done record (scenes with their versions) or why there is none.
    func printJob(_ name: String, ledger: JobLedger, plan: Plan) throws {
        let id = try JobID.parse(name, plan: plan)
        guard let record = try ledger.record(id) else {
            let state = try ledger.indexEmptyJobs().contains(id) ? "done: no scene meets this chunk (the scene index found it empty)"
                : plan.isLand(cy: id.cy, cx: id.cx) ? "not built yet" : "an ocean chunk: never built"
            if json {
                let data = try JSONSerialization.data(withJSONObject: ["job": name, "state": state], options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("\(name): \(state)")
            }
            return
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(record), as: UTF8.self))
            return
        }
        print("\(name): built \(record.finished) from index \(record.index_snapshot ?? "-"): \(record.scenes_used) of \(record.scenes_found) scenes used, \(record.observations) observations, \(record.valid_pixels) valid pixels\(record.wrote_chunks ? "" : " (no chunk written)")")
        guard let scenes = record.scenes else {
            print("scenes: not recorded (built by a cube from before updates)")
            return
        }
        for s in scenes {
            let versions = s.assets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value ?? "?")" }.joined(separator: " ")
            print("  \(s.id)  \(s.datetime)  updated \(s.updated ?? "-")  \(versions)")
        }
        for skipped in record.scenes_skipped { print("  skipped \(skipped.id): \(skipped.reason)") }
    }
}
