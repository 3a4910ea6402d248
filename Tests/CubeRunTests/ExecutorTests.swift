@testable import CubeRun
import CubeJobs
import CubePlan
import CubeSpec
import Foundation
import Testing

private func plan() throws -> Plan {
    let yaml = """
    name: t
    stac: {api: "http://127.0.0.1:9/", collection: c, profile: sentinel-2-l2a}
    grid: {crs: EPSG:4326, resolution: 0.01, bbox: [12.0, 45.0, 12.64, 45.32], chunk: 16}
    time: {start: 2024-01-01, end: 2024-02-28}
    bands: [red]
    land_mask: none
    """
    return try Plan.make(CubeSpec.parse(yaml: yaml))
}

private func record(_ job: String, skipped: [SkippedScene] = [], wrote: Bool = true) -> DoneRecord {
    DoneRecord(job: job, scenes_found: 3, scenes_used: 2, scenes_skipped: skipped, observations: 2, valid_pixels: 9,
               wrote_chunks: wrote, bytes_read: 100, bytes_written: 10, seconds: [:], finished: "", requests: 4)
}

@Test func workerRepliesRoundTripThroughTheProtocol() throws {
    let done = record("2024-01/0/1")
    let line = try #require(WorkerProtocol.replyLine(.done(done)))
    #expect(line.last == 0x0A)
    let text = String(decoding: line.dropLast(), as: UTF8.self)
    #expect(!text.contains("\n") && text.contains("\"status\":\"done\""))
    #expect(try WorkerProtocol.parseReply(text) == .done(done))
    let failed = try #require(WorkerProtocol.replyLine(.failed(job: "2024-01/0/1", attempt: 2, final: false, error: "HTTP 503")))
    let reply = try WorkerProtocol.parseReply(String(decoding: failed.dropLast(), as: UTF8.self))
    #expect(reply == .failed(job: "2024-01/0/1", attempt: 2, final: false, error: "HTTP 503"))
    #expect(throws: WorkerProtocol.BadReply.self) { _ = try WorkerProtocol.parseReply("Segmentation fault") }
    #expect(WorkerProtocol.parseRequest("  2024-01/0/1 ") == "2024-01/0/1" && WorkerProtocol.parseRequest("   ") == nil)
    #expect(WorkerProtocol.requestLine(job: "2024-01/0/1") == Data("2024-01/0/1\n".utf8))
}

@Test func shardArgumentsAndSharesAreTheWorkersOwn() throws {
    let args = WorkerProtocol.shardArguments(store: "/s.zarr", index: .fixed(3), count: 4, attempts: 2,
                                             selection: WorkerProtocol.selectionArguments(time: ["2024-01"], bbox: [1, 2, 3, 4]),
                                             workerArguments: ["--threads", "2"])
    #expect(args == ["worker", "/s.zarr", "--shard", "3/4", "--attempts", "2", "--time", "2024-01",
                     "--bbox", "1.0,2.0,3.0,4.0", "--threads", "2"])
    #expect(WorkerProtocol.shardArguments(store: "/s", index: .environment("SLURM_ARRAY_TASK_ID"), count: 8, attempts: 3,
                                          selection: [], workerArguments: [])
            == ["worker", "/s", "--shard", "8", "--shard-env", "SLURM_ARRAY_TASK_ID", "--attempts", "3"])
    #expect(WorkerProtocol.serveArguments(store: "/s", workerArguments: ["--lanes", "4"]) == ["worker", "/s", "--serve", "--lanes", "4"])
    // The shards of the selected list cover it exactly once.
    let jobs = JobID.all(in: try plan())
    let shares = (0..<3).map { WorkerProtocol.shard(of: jobs, index: $0, count: 3) }
    #expect(shares.map(\.count).reduce(0, +) == jobs.count && Set(shares.flatMap { $0 }) == Set(jobs))
    #expect(try WorkerProtocol.parseShard("2/5", variable: nil) == (2, 5))
    #expect(try WorkerProtocol.parseShard("5", variable: "IDX", environment: ["IDX": "4"]) == (4, 5))
    #expect(throws: WorkerProtocol.BadShard.self) { _ = try WorkerProtocol.parseShard("5/5", variable: nil) }
    #expect(throws: WorkerProtocol.BadShard.self) { _ = try WorkerProtocol.parseShard("5", variable: "IDX", environment: [:]) }
}

@Test func executorsResolveByNameWithTheirOwnOptions() throws {
    #expect(ExecutorRegistry.names == ["local", "slurm", "kubernetes", "dask"])
    guard case .coordinated(let local) = try ExecutorRegistry.resolve("local", ExecutorOptions(workers: 3)) else {
        Issue.record("local is coordinated"); return
    }
    #expect(local.name == "local" && local.workers(pending: 10) == 3 && local.workers(pending: 1) == 1)
    guard case .coordinated(let dask) = try ExecutorRegistry.resolve(
        "dask", ExecutorOptions(workers: 8, values: ["scheduler": ["tcp://h:8786"], "dask-retries": ["2"]])) else {
        Issue.record("dask is coordinated"); return
    }
    let d = try #require(dask as? DaskExecutor)
    #expect(d.scheduler == "tcp://h:8786" && d.retries == 2 && d.python == "python3" && d.workers(pending: 5) == 5)
    guard case .manifest = try ExecutorRegistry.resolve("kubernetes", ExecutorOptions(workers: nil, values: ["emit": ["-"]])) else {
        Issue.record("kubernetes writes a manifest"); return
    }
    #expect(throws: JobError.self) { _ = try ExecutorRegistry.resolve("ray", ExecutorOptions(workers: nil)) }
    #expect(throws: JobError.self) { _ = try ExecutorRegistry.resolve("dask", ExecutorOptions(workers: nil)) }
    #expect(throws: JobError.self) {
        _ = try ExecutorRegistry.resolve("local", ExecutorOptions(workers: nil, values: ["scheduler": ["tcp://h:1"]]))
    }
    // Options of the shared kind (the Slurm log folder) are ignored by the others, as before.
    _ = try ExecutorRegistry.resolve("local", ExecutorOptions(workers: nil, values: ["log-dir": ["x"]]))
}

@Test func theReportCountsTheRunFromItsFacts() throws {
    let p = try plan()
    let all = JobID.all(in: p)
    let selected = Array(all.prefix(5))
    let before: Set<JobID> = [selected[0]]
    let now: Set<JobID> = [selected[0], selected[1], selected[2]]
    let records = [selected[1]: record("a", skipped: [SkippedScene(id: "S1", reason: "unreadable: 404"),
                                                      SkippedScene(id: "S2", reason: "eo:cloud_cover 90 > max_cloud_cover 50")]),
                   selected[2]: record("b", wrote: false)]
    let started = Date(timeIntervalSince1970: 1_000)
    let report = RunReport(RunReport.Facts(
        cube: "t", store: "/s", executor: "dask", workers: 2, started: started, interrupted: false, plan: p,
        selected: selected, doneBefore: before, doneNow: now, records: records,
        storedFailures: [selected[3]: FailureRecord(job: "x3", error: "stored", attempts: 3, failed: "")],
        queueFailures: [selected[4]: (error: "queue", attempts: 2)],
        previews: [:], indexSnapshot: nil, pyramid: nil, publishedBins: 1, completeBins: 0, update: nil, commit: nil),
        finished: started.addingTimeInterval(5))
    #expect(report.jobs.total == all.count && report.jobs.selected == 5 && report.jobs.already_done == 1)
    #expect(report.jobs.done_this_run == 2 && report.jobs.empty_this_run == 1 && report.jobs.failed == 2)
    #expect(report.jobs.pending == 0 && report.jobs.done_in_store == 3 && !report.complete)
    #expect(report.scenes.used == 4 && report.scenes.skipped == 2)
    #expect(report.scenes.skip_reasons == ["unreadable": 1, "too cloudy": 1] && report.scenes.unreadable.map(\.id) == ["S1"])
    #expect(report.bytes_read == 200 && report.requests == 8 && report.wall_seconds == 5)
    #expect(report.failures.map(\.error).sorted() == ["queue", "stored"])
    #expect(report.executor == "dask" && report.published_bins == 1 && report.complete_bins == 0)
}
