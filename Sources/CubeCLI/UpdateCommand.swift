import ArgumentParser
import ChunkWorker
import CubeJobs
import CubeRun
import CubeSchema
import CubeStore
import CubeUpdate
import Foundation
import JSON

struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Rebuild exactly the jobs whose scenes changed in the catalog.",
        discussion: """
        Searches the catalog again for the time bins (all by default), compares each job's \
        scenes with those its done record lists, and rebuilds the jobs whose scenes changed: \
        items added (late arrivals, and jobs that were empty), withdrawn, or replaced (a \
        reprocessed copy that now wins the dedup, a newer `updated`, another `file:checksum`). \
        Jobs whose scenes did not change are neither rebuilt nor rewritten; a rebuilt chunk \
        replaces the old one in one put. The pyramid above rebuilt chunks is rebuilt, and the \
        bins' STAC items and the run report say what changed. Takes the run lock, like `cube run`.

        --dry-run prints each job it would rebuild with the reason and writes nothing. An \
        interrupted update is finished by running it again (`cube run` refuses until then). \
        See docs/updating.md.
        """
    )

    @Argument(help: "The cube's store.")
    var store: String

    @Option(help: "Only these time bins: a label (2024-03), a list or an inclusive range (2024-03..2024-06). Repeatable.")
    var time: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Only say which jobs would be rebuilt and why; write nothing.")
    var dryRun = false

    @Flag(help: "JSON on standard output: the comparison (with --dry-run), else it and the run report.")
    var json = false

    @Flag(name: .customLong("recheck-objects"),
          help: "Read every COG header again (not only of new or changed items), to find objects replaced behind an unchanged catalog entry.")
    var recheckObjects = false

    @Flag(name: .customLong("rebuild-unrecorded"),
          help: "Rebuild jobs built by a cube from before updates (no record of their scenes) instead of refusing.")
    var rebuildUnrecorded = false

    @Flag(name: .customLong("seed-records"), help: .hidden)
    var seedRecords = false

    @Option(help: "Worker processes for the rebuild (default: the number of cores).")
    var workers: Int?

    @Option(help: "Attempts per job before it counts as failed.")
    var attempts = 3

    @Option(help: "Catalog and header requests in flight at once.")
    var connections = 32

    @Flag(help: "Only the final summary.")
    var quiet = false

    @Flag(name: .customLong("no-previews"), help: "Do not render the quicklook PNGs.")
    var noPreviews = false

    func validate() throws {
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        if quiet && json { throw ValidationError("--quiet and --json cannot be combined") }
    }

    func run() throws {
        var exitCode: Int32 = 0
        try runReportingErrors {
            let s = try openStore(store)
            let cube = try OpenCube(store: s)
            let bins = try JobSelection.bins(cube.plan, time: time).map { cube.plan.bins[$0] }
            let updater = CubeUpdater(store: s, spec: cube.spec, plan: cube.plan, layout: cube.layout,
                                      source: try cube.stacSource)
            updater.connections = connections
            updater.recheckObjects = recheckObjects
            updater.rebuildUnrecorded = rebuildUnrecorded
            if !quiet && !json { updater.log = { FileHandle.standardError.write(Data("  \($0)\n".utf8)) } }

            if seedRecords {
                // Benchmarks only (scripts/bench/run update): done records as if every job had
                // been built from the catalog as it is now; no chunk is written.
                updater.seedRecords = true
                let report = try updater.run(bins: bins, dryRun: true)
                print("seeded done records for the jobs of \(report.bins.count) bins (\(String(format: "%.1f", report.seconds)) s)")
                return
            }
            if dryRun {
                let report = try updater.run(bins: bins, dryRun: true)
                if json { print(String(decoding: try Self.encode(report), as: UTF8.self)) } else { print(Self.describe(report)) }
                return
            }
            let lock = try RunLock.acquire(store: s, executor: "update")
            defer { lock.release() }
            let report = try updater.run(bins: bins, dryRun: false)
            if !json { print(Self.describe(report)) }
            let location = s.description
            let display: DisplayMode = quiet ? .quiet : json ? .json : ProgressDisplay.automaticMode()
            let options = RunOptions(executor: .local(workers: workers ?? ProcessInfo.processInfo.activeProcessorCount),
                                     attempts: attempts, time: time, display: display, previews: !noPreviews)
            let coordinator = try Coordinator(store: s, storeLocation: location, options: options)
            var notes: [Int: JSONValue] = [:]
            for bin in bins { if let n = report.note(bin: bin.label) { notes[bin.index] = n } }
            coordinator.publicationNotes = notes
            let c = report.counts
            coordinator.updateSummary = RunReport.UpdateSummary(
                bins: bins.map(\.label), jobs_rebuilt: report.jobs_rebuild, jobs_emptied: report.jobs_emptied,
                scenes_added: c.added, scenes_withdrawn: c.withdrawn, scenes_replaced: c.replaced, scenes_changed: c.changed)
            if report.jobs_rebuild + report.jobs_emptied > 0 { try coordinator.publishNow() }
            let run = try coordinator.run(holding: lock)
            if !run.interrupted && run.jobs.failed == 0 && run.jobs.pending == 0 { try s.delete(UpdateJournal.key) }
            if json {
                print(String(decoding: try Self.encode(report), as: UTF8.self))
                print(String(decoding: try run.encoded(pretty: false), as: UTF8.self))
            } else {
                print(run.summary)
            }
            if run.interrupted { exitCode = 130 } else if run.jobs.failed > 0 { exitCode = 1 }
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    static func encode(_ report: UpdateReport) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(report)
    }

    /// One line per job to rebuild, then a summary line.
    static func describe(_ report: UpdateReport) -> String {
        var lines: [String] = []
        for bin in report.bins {
            for job in bin.rebuild { lines.append("rebuild \(job.job): \(job.reason): \(job.change.summary)") }
            for job in bin.emptied { lines.append("empty   \(job.job): \(job.reason): \(job.change.summary)") }
        }
        let verb = report.dry_run ? "would rebuild" : "rebuilding"
        lines.append("\(verb) \(report.jobs_rebuild) of \(report.jobs_checked) jobs in \(report.bins.count) time bins, \(report.jobs_emptied) emptied (\(String(format: "%.1f", report.seconds)) s)")
        return lines.joined(separator: "\n")
    }
}
