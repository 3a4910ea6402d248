import CubeJobs
import CubePlan
import CubeSpec
import CubeStore
import Foundation
import Testing

/// The ledger: done and failure records in the store, the index's empty jobs, what is pending.
@Suite struct JobLedgerTests {
    /// Two monthly bins (2024-01, 2024-02) of a 2 x 3 chunk grid, every chunk land.
    func ledger() throws -> JobLedger {
        let spec = CubeSpec(name: "t", stac: .file(path: "x.json", collections: [], maxCloudCover: nil),
                            grid: GridSpec(crs: "EPSG:4326", resolutionX: 0.01, resolutionY: 0.01, bbox: [12.0, 45.0, 12.3, 45.2], chunk: 10),
                            time: TimeSpec(start: Date(timeIntervalSince1970: 1_704_067_200), end: Date(timeIntervalSince1970: 1_709_164_800)),
                            bands: [BandSpec(asset: "red")], landMask: .none, store: "t.zarr")
        let plan = try Plan.make(spec)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        return JobLedger(store: LocalStore(root: dir.path, durable: false), plan: plan)
    }

    func record(_ name: String) -> DoneRecord {
        DoneRecord(job: name, scenes_found: 2, scenes_used: 1, scenes_skipped: [], observations: 1, valid_pixels: 9,
                   wrote_chunks: true, bytes_read: 10, bytes_written: 5, seconds: ["read": 0.5], finished: "2026-12-07T00:00:00Z")
    }

    @Test func doneAndFailedRecordsAndWhatIsPending() throws {
        let l = try ledger()
        let all = JobID.all(in: l.plan)
        #expect(l.plan.bins.map(\.label) == ["2024-01", "2024-02"] && all.count == 12)
        #expect(try l.pendingJobs() == all && l.doneJobs().isEmpty)
        let a = all[1], b = all[7]
        try l.markFailed(a, FailureRecord(job: a.name(in: l.plan), error: "boom", attempts: 3, failed: "now"))
        #expect(try l.failures()[a]?.error == "boom" && !l.isDone(a))
        // Done later: the failure record goes, the done record reads back whole.
        try l.markDone(a, record(a.name(in: l.plan)))
        try l.markDone(b, record(b.name(in: l.plan)))
        #expect(try l.failures().isEmpty)
        #expect(try l.isDone(a) && l.record(a) == record(a.name(in: l.plan)))
        #expect(try l.doneJobs() == [a, b] && l.recordedJobs() == [a, b])
        #expect(try l.pendingJobs() == all.filter { $0 != a && $0 != b }, "pending keeps the plan's order")
        #expect(try l.doneRecords().keys.sorted() == [a, b])
        // Forgotten (its scenes changed): pending again.
        try l.forget(b)
        #expect(try !l.isDone(b) && l.record(b) == nil && l.doneJobs() == [a])
    }

    @Test func strayKeysAreNotJobs() throws {
        let l = try ledger()
        for key in ["_cube/done/2023-12/0.0.json", "_cube/done/2024-01/x.y.json", "_cube/done/2024-01/0.0.txt",
                    "_cube/done/2024-01/0.json", "_cube/done/2024-01/sub/0.0.json"] {
            try l.store.put(key, Data("{}".utf8))
        }
        #expect(try l.doneJobs().isEmpty)
        try l.store.put(l.doneKey(JobID(bin: 1, cy: 1, cx: 2)), Data("{}".utf8))
        #expect(try l.doneJobs() == [JobID(bin: 1, cy: 1, cx: 2)])
    }

    @Test func jobsTheIndexFoundEmptyAreDoneWithoutARecord() throws {
        let l = try ledger()
        let snapshot = #"{"snapshot":"s1","bins":[{"label":"2024-02","empty":["0.1","1.2","bad"]},{"label":"2099-01","empty":["0.0"]}]}"#
        try l.store.put(JobLedger.indexSnapshotKey, Data(snapshot.utf8))
        let empty: Set<JobID> = [JobID(bin: 1, cy: 0, cx: 1), JobID(bin: 1, cy: 1, cx: 2)]
        #expect(try l.indexEmptyJobs() == empty)
        #expect(try l.doneJobs() == empty && l.recordedJobs().isEmpty && l.isDone(JobID(bin: 1, cy: 0, cx: 1)))
        #expect(try l.pendingJobs().count == 10)
        // Read once per ledger until told the index changed.
        try l.store.put(JobLedger.indexSnapshotKey, Data(#"{"snapshot":"s2","bins":[]}"#.utf8))
        #expect(try l.indexEmptyJobs() == empty)
        l.reloadIndex()
        #expect(try l.indexEmptyJobs().isEmpty)
    }
}
