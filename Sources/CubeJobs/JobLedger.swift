import CubeCore
import CubePlan
import CubeStore
import Foundation
import Synchronization

/// What a finished job leaves behind at `_cube/done/<bin>/<row>.<col>.json`. It is written
/// after all the job's chunks, so its presence means the job's output is complete.
public struct DoneRecord: Codable, Equatable, Sendable {
    public var job: String
    public var scenes_found: Int
    public var scenes_used: Int
    public var scenes_skipped: [SkippedScene]
    public var observations: Int
    public var valid_pixels: Int
    /// False when no pixel had a valid observation: no data chunks were written.
    public var wrote_chunks: Bool
    public var bytes_read: Int
    public var bytes_written: Int
    public var seconds: [String: Double]
    public var finished: String
    /// The scene index snapshot the job was built from (nil: searched the catalog itself).
    public var index_snapshot: String?
    /// Requests the job sent to the COG servers (tiles, and headers not in the index).
    public var requests: Int?
    /// Assets whose object changed since the index read its header: read from a fresh header.
    public var stale_assets: Int?
    /// The scenes the job was built from (after the footprint filter and the dedup of
    /// reprocessed copies), in observation order; nil in records of cubes built before cube
    /// kept them. `cube update` compares them with the catalog of the day.
    public var scenes: [SceneProvenance]?
    /// The COG overview level each asset was read at (0: full resolution), by scene id and
    /// asset key; nil for cubes with `overviews: none` (everything at full resolution).
    public var overview_levels: [String: [String: Int]]?

    public init(job: String, scenes_found: Int, scenes_used: Int, scenes_skipped: [SkippedScene], observations: Int,
                valid_pixels: Int, wrote_chunks: Bool, bytes_read: Int, bytes_written: Int, seconds: [String: Double],
                finished: String, index_snapshot: String? = nil, requests: Int? = nil,
                stale_assets: Int? = nil, scenes: [SceneProvenance]? = nil,
                overview_levels: [String: [String: Int]]? = nil) {
        self.overview_levels = overview_levels
        self.stale_assets = stale_assets
        self.scenes = scenes
        self.index_snapshot = index_snapshot
        self.requests = requests
        self.job = job
        self.scenes_found = scenes_found
        self.scenes_used = scenes_used
        self.scenes_skipped = scenes_skipped
        self.observations = observations
        self.valid_pixels = valid_pixels
        self.wrote_chunks = wrote_chunks
        self.bytes_read = bytes_read
        self.bytes_written = bytes_written
        self.seconds = seconds
        self.finished = finished
    }
}

/// A job that failed for good in some run: `_cube/failed/<bin>/<row>.<col>.json`. Removed when
/// the job is done later, so the folder always lists the jobs that still need attention.
public struct FailureRecord: Codable, Equatable, Sendable {
    public var job: String
    public var error: String
    public var attempts: Int
    public var failed: String

    public init(job: String, error: String, attempts: Int, failed: String) {
        self.job = job
        self.error = error
        self.attempts = attempts
        self.failed = failed
    }
}

public struct SkippedScene: Codable, Equatable, Sendable {
    public var id: String
    public var reason: String
    public init(id: String, reason: String) {
        self.id = id
        self.reason = reason
    }
}

/// Done records in the store: the only shared state workers need to resume a build. A job is
/// done when it has a done record, or when the cube's scene index found no scene for it (the
/// index lists such jobs in its snapshot, `_cube/index/snapshot.json`, so a continental build
/// does not write a record for each of them).
public struct JobLedger: Sendable {
    public static let donePrefix = StoreKeys.donePrefix
    public static let failedPrefix = StoreKeys.failedPrefix
    public static let indexSnapshotKey = StoreKeys.indexSnapshot
    public let store: any Store
    public let plan: Plan
    private let empty = EmptyJobs()

    public init(store: any Store, plan: Plan) {
        self.store = store
        self.plan = plan
    }

    /// Jobs the scene index found no scene for (read once per ledger).
    public func indexEmptyJobs() throws -> Set<JobID> {
        try empty.jobs {
            struct Snapshot: Decodable {
                struct Bin: Decodable { let label: String; let empty: [String]? }
                let bins: [Bin]
            }
            guard let data = try store.get(JobLedger.indexSnapshotKey) else { return [] }
            let snapshot = try JSONDecoder().decode(Snapshot.self, from: data)
            let labels = Dictionary(uniqueKeysWithValues: plan.bins.enumerated().map { ($1.label, $0) })
            var out = Set<JobID>()
            for bin in snapshot.bins {
                guard let b = labels[bin.label] else { continue }
                for name in bin.empty ?? [] {
                    let rc = name.split(separator: ".")
                    guard rc.count == 2, let cy = Int(rc[0]), let cx = Int(rc[1]) else { continue }
                    out.insert(JobID(bin: b, cy: cy, cx: cx))
                }
            }
            return out
        }
    }

    /// Forgets what was read of the index (after the index was rebuilt).
    public func reloadIndex() { empty.clear() }

    public func doneKey(_ job: JobID) -> String {
        "\(JobLedger.donePrefix)/\(plan.bins[job.bin].label)/\(job.cy).\(job.cx).json"
    }

    public func isDone(_ job: JobID) throws -> Bool {
        try indexEmptyJobs().contains(job) || store.exists(doneKey(job))
    }

    public func record(_ job: JobID) throws -> DoneRecord? {
        guard let data = try store.get(doneKey(job)) else { return nil }
        return try JSONDecoder().decode(DoneRecord.self, from: data)
    }

    public func failedKey(_ job: JobID) -> String {
        "\(JobLedger.failedPrefix)/\(plan.bins[job.bin].label)/\(job.cy).\(job.cx).json"
    }

    /// Records the job done; must come after every chunk of the job is stored. Clears an
    /// earlier failure record of the job.
    public func markDone(_ job: JobID, _ record: DoneRecord) throws {
        try store.put(doneKey(job), Self.encode(record))
        try store.delete(failedKey(job))
    }

    public func markFailed(_ job: JobID, _ record: FailureRecord) throws {
        try store.put(failedKey(job), Self.encode(record))
    }

    /// Every done record (one GET each), for reports.
    public func doneRecords() throws -> [JobID: DoneRecord] {
        var out: [JobID: DoneRecord] = [:]
        for job in try doneJobs() {
            if let r = try record(job) { out[job] = r }
        }
        return out
    }

    /// Failure records of jobs that are not done.
    public func failures() throws -> [JobID: FailureRecord] {
        var out: [JobID: FailureRecord] = [:]
        for (job, key) in try jobKeys(under: JobLedger.failedPrefix) {
            guard let data = try store.get(key), let r = try? JSONDecoder().decode(FailureRecord.self, from: data) else { continue }
            out[job] = r
        }
        return out
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(value)
    }

    /// Jobs named by the `<label>/<cy>.<cx>.json` keys under `prefix` (one listing).
    private func jobKeys(under prefix: String) throws -> [(JobID, String)] {
        let labels = Dictionary(uniqueKeysWithValues: plan.bins.enumerated().map { ($1.label, $0) })
        var out: [(JobID, String)] = []
        for key in try store.list(prefix: prefix) {
            let parts = key.split(separator: "/")
            guard parts.count == 4, let bin = labels[String(parts[2])], parts[3].hasSuffix(".json") else { continue }
            let rc = parts[3].dropLast(5).split(separator: ".")
            guard rc.count == 2, let cy = Int(rc[0]), let cx = Int(rc[1]) else { continue }
            out.append((JobID(bin: bin, cy: cy, cx: cx), key))
        }
        return out
    }

    /// All jobs with a done record (one listing of the done folder), and those the scene index
    /// found empty.
    public func doneJobs() throws -> Set<JobID> {
        try recordedJobs().union(try indexEmptyJobs())
    }

    /// Jobs with a done record (built by a worker), without the index's empty ones.
    public func recordedJobs() throws -> Set<JobID> {
        Set(try jobKeys(under: JobLedger.donePrefix).map(\.0))
    }

    /// Forgets that `job` was built (its scenes changed): it is pending again.
    public func forget(_ job: JobID) throws {
        try store.delete(doneKey(job))
    }

    /// Jobs of the plan without a done record, in plan order.
    public func pendingJobs() throws -> [JobID] {
        let done = try doneJobs()
        return JobID.all(in: plan).filter { !done.contains($0) }
    }
}

/// The index's empty jobs, loaded on first use (under the lock, so once).
private final class EmptyJobs: Sendable {
    private let loaded = Mutex<Set<JobID>?>(nil)

    func jobs(_ load: () throws -> Set<JobID>) throws -> Set<JobID> {
        try loaded.withLock { loaded in
            if let loaded { return loaded }
            let value = try load()
            loaded = value
            return value
        }
    }

    func clear() { loaded.withLock { $0 = nil } }
}
