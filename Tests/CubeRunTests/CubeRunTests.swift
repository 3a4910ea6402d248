@testable import CubeRun
import CubeJobs
import CubePlan
import CubeSpec
import Foundation
import Testing

private func plan(months: Int = 3, land: Bool = true) throws -> Plan {
    let yaml = """
    name: t
    stac: {api: "http://127.0.0.1:9/", collection: c, profile: sentinel-2-l2a}
    grid: {crs: EPSG:4326, resolution: 0.01, bbox: [12.0, 45.0, 12.64, 45.32], chunk: 16}
    time: {start: 2024-01-01, end: 2024-0\(months)-28}
    bands: [red]
    land_mask: none
    """
    return try Plan.make(CubeSpec.parse(yaml: yaml))
}

@Test func queueHandsOutJobsInPlanOrderAndRetriesWithBackoff() throws {
    let jobs = [JobID(bin: 0, cy: 0, cx: 0), JobID(bin: 0, cy: 0, cx: 1), JobID(bin: 1, cy: 0, cx: 0)]
    let queue = JobQueue(jobs: jobs, maxAttempts: 2, backoff: { _ in 0.05 })
    let first = try #require(queue.next())
    #expect(first == jobs[0])
    #expect(queue.failed(first, error: "boom") == false)   // attempt 1 of 2: back in the queue
    #expect(queue.next() == jobs[1])
    #expect(queue.next() == jobs[2])
    // The retry comes back once its backoff has passed.
    let retried = try #require(queue.next())
    #expect(retried == first && queue.attemptsUsed(first) == 1)
    #expect(queue.failed(retried, error: "boom again") == true)   // attempt 2 of 2: failed for good
    let record = DoneRecord(job: "x", scenes_found: 1, scenes_used: 1, scenes_skipped: [], observations: 1,
                            valid_pixels: 5, wrote_chunks: true, bytes_read: 10, bytes_written: 3, seconds: [:], finished: "")
    queue.finished(jobs[1], record)
    queue.finished(jobs[2], record)
    #expect(queue.next() == nil)
    let p = queue.snapshot()
    #expect(p.done == 2 && p.failed == 1 && p.retries == 1 && p.running == 0 && p.bytesRead == 20)
    #expect(queue.failures[first]?.error == "boom again" && queue.failures[first]?.attempts == 2)
}

@Test func stoppedQueueHandsOutNothingAndWaitingThreadsWake() throws {
    let queue = JobQueue(jobs: [JobID(bin: 0, cy: 0, cx: 0), JobID(bin: 0, cy: 0, cx: 1)], maxAttempts: 3)
    let running = try #require(queue.next())
    let woke = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        _ = queue.next()  // gets the second job
        #expect(queue.next() == nil)  // waits for the running job, then sees the stop
        woke.signal()
    }
    Thread.sleep(forTimeInterval: 0.1)
    queue.stop()
    #expect(queue.failed(running, error: "interrupted"))  // no retry once stopped
    #expect(woke.wait(timeout: .now() + 5) == .success)
    #expect(queue.isStopped)
}

@Test func timeAndBBoxSelectParts() throws {
    let p = try plan()
    #expect(p.bins.map(\.label) == ["2024-01", "2024-02", "2024-03"])
    let all = try JobSelection.select(p, time: [], bbox: nil)
    #expect(all == JobID.all(in: p))
    let feb = try JobSelection.select(p, time: ["2024-02"], bbox: nil)
    #expect(Set(feb.map(\.bin)) == [1] && feb.count == all.count / 3)
    let range = try JobSelection.select(p, time: ["2024-02..2024-03"], bbox: nil)
    #expect(Set(range.map(\.bin)) == [1, 2])
    let list = try JobSelection.select(p, time: ["2024-01,2024-03"], bbox: nil)
    #expect(Set(list.map(\.bin)) == [0, 2])
    // Chunks are 0.16° wide: lon 12.0–12.1 touches only column 0, lat 45.2–45.3 only row 0.
    let corner = try JobSelection.select(p, time: ["2024-01"], bbox: [12.0, 45.2, 12.1, 45.3])
    #expect(corner == [JobID(bin: 0, cy: 0, cx: 0)])
    #expect(throws: JobError.self) { _ = try JobSelection.select(p, time: ["2030-01"], bbox: nil) }
    #expect(throws: JobError.self) { _ = try JobSelection.select(p, time: [], bbox: [13, 45, 12, 46]) }
}

@Test func skipReasonsAreGroupedIntoKinds() {
    #expect(RunReport.reasonKind("unreadable: cannot open x: HTTP response code: 404") == "unreadable")
    #expect(RunReport.reasonKind("reprocessed duplicate of A (tile T, baseline 05.10 vs 05.11)") == "reprocessed duplicate")
    #expect(RunReport.reasonKind("eo:cloud_cover 80 > max_cloud_cover 50") == "too cloudy")
    #expect(RunReport.reasonKind("no usable pixel (masked, nodata or already filled)") == "no usable pixel")
    #expect(RunReport.reasonKind("outside the chunk") == "outside the chunk")
    #expect(RunReport.size(1536) == "1.5 KiB" && RunReport.size(12) == "12 B")
}

@Test func kubernetesManifestRunsShardsOfTheSelectedJobs() {
    let m = KubernetesManifest(storeLocation: "s3://b/cube.zarr", image: "reg/cube:1", shards: 12, parallelism: 4,
                               attempts: 3, time: ["2024-03"], bbox: [12, 45, 13, 46], workerArguments: ["--threads", "1"])
    #expect(m.command == ["cube", "worker", "s3://b/cube.zarr", "--shard", "12", "--shard-env", "JOB_COMPLETION_INDEX",
                          "--attempts", "3", "--time", "2024-03", "--bbox", "12.0,45.0,13.0,46.0", "--threads", "1"])
    let yaml = m.yaml()
    #expect(yaml.contains("completionMode: Indexed") && yaml.contains("completions: 12") && yaml.contains("parallelism: 4"))
    #expect(yaml.contains("backoffLimitPerIndex: 2") && yaml.contains("restartPolicy: Never"))
    #expect(KubernetesManifest.quoted("a\"b") == "\"a\\\"b\"")
}

@Test func shellQuotingKeepsArgumentsWhole() {
    #expect(Shell.quote("/data/cube.zarr") == "/data/cube.zarr")
    #expect(Shell.quote("a b") == "'a b'")
    #expect(Shell.quote("it's") == "'it'\\''s'")
    #expect(Shell.quote("") == "''")
}
