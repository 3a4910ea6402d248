import CubeStore
import Foundation

/// How a commit groups an array's chunk refs into manifests, so that a commit rewrites only the
/// manifests of the regions it touches (a continental array has hundreds of thousands of
/// chunks; one manifest per array would be rewritten whole on every commit).
///
/// A manifest spans `chunksPerManifest[name]` chunks along each dimension named there, and
/// `otherwise` chunks along any other dimension (nil: the whole dimension). The default, one
/// time chunk by 32 × 32 spatial chunks, gives manifests of at most 1024 refs per time bin.
public struct ManifestSplitting: Sendable, Equatable {
    public var chunksPerManifest: [String: UInt32]
    public var otherwise: UInt32?

    public init(chunksPerManifest: [String: UInt32] = ["time": 1], otherwise: UInt32? = 32) {
        self.chunksPerManifest = chunksPerManifest.mapValues { max(1, $0) }
        self.otherwise = otherwise.map { max(1, $0) }
    }

    /// Block sizes per dimension of an array with these dimension names.
    func blocks(_ names: [String?]?, rank: Int) -> [UInt32] {
        (0..<rank).map { i in
            if let name = names?[safe: i] ?? nil, let n = chunksPerManifest[name] { return n }
            return otherwise ?? UInt32.max
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}

/// A commit as `ancestry` lists it.
public struct Commit: Equatable, Sendable {
    public var id: ObjectId12
    public var parent: ObjectId12?
    public var time: Date
    public var message: String
    public var metadata: [MetadataItem]
}

/// An Icechunk repository (spec version 2, as icechunk 2.x writes and reads it) in any `Store`.
///
/// Writing follows the split a cube build needs: workers call `writeChunk` (a new immutable
/// object under `chunks/`, no coordination) and report the returned refs; one coordinator calls
/// `commit` with the zarr.json of the nodes it changed and the refs, which writes the manifests,
/// the transaction log and the snapshot, and then moves the branch with a compare-and-swap on
/// the `repo` object: after a backup copy to `overwritten/`, a replace conditional on the
/// version it read (`If-Match` on S3; a lock and an identity check on a local disk, see
/// `LocalStore.replace`). A commit that loses the race throws `IcechunkError.conflict` and
/// leaves the other writer's commit intact; its own objects are unreferenced (garbage only).
///
/// ```swift
/// let repo = try IcechunkRepository.create(storage: LocalStore(root: "/data/cube.icechunk"))
/// let ref = try IcechunkRepository.writeChunk(bytes, to: repo.storage)       // on a worker
/// let parent = try repo.tip(branch: "main")
/// let id = try repo.commit(branch: "main", parent: parent,
///                          nodes: ["/": groupJSON, "/red": arrayJSON],
///                          chunks: ["/red": [ChunkRef(coords: [0, 0, 0], payload: ref)]],
///                          message: "bin 2024-01")
/// ```
public final class IcechunkRepository: Sendable {
    public let storage: any ConditionalStore
    public let splitting: ManifestSplitting
    /// The ops log kept in `repo` before older entries are left to the backups (icechunk's
    /// default is 1000; `repo_before_updates` then names the backup that holds the rest).
    public let updatesPerFile: Int

    public static let initialSnapshotId = ObjectId12(high: 0x0B1C_C8D6_7875_80F0, low: 0xE33A_6534)
    public static let initialMessage = "Repository initialized"

    init(storage: any ConditionalStore, splitting: ManifestSplitting, updatesPerFile: Int = 1000) {
        self.storage = storage
        self.splitting = splitting
        self.updatesPerFile = max(1, updatesPerFile)
    }

    // MARK: creating and opening

    /// Makes a new repository: the initial snapshot, its empty transaction log, then `repo` with
    /// `main` pointing at it (created only if absent, so one of two racing creators wins).
    public static func create(storage: any ConditionalStore, splitting: ManifestSplitting = ManifestSplitting(),
                              now: Date = Date()) throws -> IcechunkRepository {
        if try storage.exists("repo") { throw IcechunkError.alreadyExists("an Icechunk repository in \(storage)") }
        let time = micros(now)
        let initial = Snapshot(id: initialSnapshotId, nodes: [], flushedAt: time, message: initialMessage,
                               metadata: [MetadataItem(name: "__icechunk", value: .object(["is_root": .bool(true)]))],
                               manifestFiles: [])
        let key = "snapshots/\(initialSnapshotId)"
        _ = try storage.createIfAbsent(key, ObjectFile.encode(.snapshot, flatbuffer: Codec.encodeSnapshot(initial)))
        _ = try storage.createIfAbsent("transactions/\(initialSnapshotId)",
                                       ObjectFile.encode(.transactionLog, flatbuffer: Codec.encodeTransactionLog(TransactionLog(id: initialSnapshotId))))
        var info = RepoInfo()
        info.snapshots = [SnapshotInfo(id: initialSnapshotId, parent: nil, flushedAt: time, message: initialMessage,
                                       metadata: initial.metadata, prunedAncestorTxLogs: nil)]
        info.branches = ["main": initialSnapshotId]
        info.status = RepoStatus(availability: 0, setAt: time, reason: nil)
        info.metadata = []
        info.latestUpdates = [Update(kind: .repoInitialized, updatedAt: time, backupPath: nil)]
        guard try storage.createIfAbsent("repo", ObjectFile.encode(.repoInfo, flatbuffer: Codec.encodeRepo(info))) else {
            throw IcechunkError.alreadyExists("an Icechunk repository in \(storage)")
        }
        return IcechunkRepository(storage: storage, splitting: splitting)
    }

    /// Opens an existing repository (its `repo` object must read as spec 2).
    public static func open(storage: any ConditionalStore, splitting: ManifestSplitting = ManifestSplitting(),
                            updatesPerFile: Int = 1000) throws -> IcechunkRepository {
        let repo = IcechunkRepository(storage: storage, splitting: splitting, updatesPerFile: updatesPerFile)
        _ = try repo.info()
        return repo
    }

    // MARK: reading

    /// The `repo` object as it is now, with its version for a conditional replace.
    func versionedInfo() throws -> (RepoInfo, version: String, raw: Data) {
        guard let (data, version) = try storage.getVersioned("repo") else {
            throw IcechunkError.notFound("no Icechunk repository (no repo object) in \(storage)")
        }
        let (_, fb) = try ObjectFile.decode(data, expect: .repoInfo)
        return (try Codec.decodeRepo(fb), version, data)
    }

    public func info() throws -> RepoInfo { try versionedInfo().0 }

    public func tip(branch: String) throws -> ObjectId12 {
        guard let id = try info().branches[branch] else { throw IcechunkError.notFound("branch \(branch)") }
        return id
    }

    public func branches() throws -> [String: ObjectId12] { try info().branches }
    public func tags() throws -> [String: ObjectId12] { try info().tags }

    public func snapshot(_ id: ObjectId12) throws -> Snapshot {
        guard let data = try storage.get("snapshots/\(id)") else { throw IcechunkError.notFound("snapshot \(id)") }
        let snapshot = try Codec.decodeSnapshot(ObjectFile.decode(data, expect: .snapshot).flatbuffer)
        guard snapshot.id == id else { throw IcechunkError.corrupt("snapshots/\(id) holds snapshot \(snapshot.id)") }
        return snapshot
    }

    public func manifest(_ id: ObjectId12) throws -> Manifest {
        guard let data = try storage.get("manifests/\(id)") else { throw IcechunkError.notFound("manifest \(id)") }
        let manifest = try Codec.decodeManifest(ObjectFile.decode(data, expect: .manifest).flatbuffer)
        guard manifest.id == id else { throw IcechunkError.corrupt("manifests/\(id) holds manifest \(manifest.id)") }
        return manifest
    }

    public func transactionLog(_ id: ObjectId12) throws -> TransactionLog {
        guard let data = try storage.get("transactions/\(id)") else { throw IcechunkError.notFound("transaction log \(id)") }
        return try Codec.decodeTransactionLog(ObjectFile.decode(data, expect: .transactionLog).flatbuffer)
    }

    /// Every chunk ref of the array at `path` in a snapshot, sorted by coordinates.
    public func chunkRefs(snapshot: Snapshot, path: String) throws -> [ChunkRef] {
        let path = try Self.normalise(path)
        guard let node = snapshot.node(at: path), node.isArray else { throw IcechunkError.notFound("array \(path) in snapshot \(snapshot.id)") }
        var refs: [ChunkRef] = []
        for m in node.manifests {
            let manifest = try manifest(m.id)
            refs += manifest.arrays.first { $0.nodeId == node.id }?.refs ?? []
        }
        return refs.sorted { coordsPrecede($0.coords, $1.coords) }
    }

    /// The bytes a ref names (nil when its chunk object is missing).
    public func readChunk(_ payload: ChunkPayload) throws -> Data? {
        switch payload {
        case .inline(let bytes): return Data(bytes)
        case let .native(id, offset, length):
            guard let data = try storage.get("chunks/\(id)") else { return nil }
            guard offset <= UInt64(data.count), length <= UInt64(data.count) - offset else {
                throw IcechunkError.corrupt("chunk \(id) is shorter than its ref (\(offset)+\(length))")
            }
            return data.subdata(in: Int(offset)..<Int(offset + length))
        case .virtual(let location, _, _, _, _):
            throw IcechunkError.invalid("virtual chunk \(location): reading virtual refs is not supported")
        }
    }

    /// Commits of a branch, newest first, following parents to the initial snapshot.
    public func ancestry(branch: String) throws -> [Commit] {
        let info = try info()
        guard var id = info.branches[branch] else { throw IcechunkError.notFound("branch \(branch)") }
        var out: [Commit] = []
        var seen = Set<ObjectId12>()
        while true {
            guard let s = info.snapshot(id) else { throw IcechunkError.corrupt("repo does not list snapshot \(id)") }
            guard seen.insert(id).inserted else { throw IcechunkError.corrupt("the ancestry of \(branch) has a cycle") }
            out.append(Commit(id: s.id, parent: s.parent, time: Date(timeIntervalSince1970: Double(s.flushedAt) / 1e6),
                              message: s.message, metadata: s.metadata))
            guard let p = s.parent else { return out }
            id = p
        }
    }

    // MARK: writing

    /// Stores one chunk (the bytes of the Zarr codec pipeline; a whole shard for a sharded
    /// array) as a new object under `chunks/` and returns its ref. Static, so a worker needs
    /// only the store: it never reads or writes repository metadata.
    public static func writeChunk(_ bytes: Data, to storage: any Store) throws -> ChunkPayload {
        let id = ObjectId12.random()
        try storage.put("chunks/\(id)", bytes)
        return .native(id: id, offset: 0, length: UInt64(bytes.count))
    }

    public func writeChunk(_ bytes: Data) throws -> ChunkPayload { try Self.writeChunk(bytes, to: storage) }

    /// Creates tag `name` at `snapshot` (tags never move; a deleted name is never reused).
    public func tag(_ name: String, snapshot: ObjectId12, now: Date = Date()) throws {
        try updateRepo(now: now) { info in
            guard info.snapshot(snapshot) != nil else { throw IcechunkError.notFound("snapshot \(snapshot)") }
            guard info.tags[name] == nil, !info.deletedTags.contains(name) else { throw IcechunkError.alreadyExists("tag \(name)") }
            info.tags[name] = snapshot
            return .tagCreated(name: name)
        }
    }

    /// Applies `change` to the current `repo` and replaces it conditionally, re-reading and
    /// re-applying when another writer replaced it in between (`change` decides again, so a
    /// branch that moved is a conflict, not an overwrite; it returns nil when nothing is left
    /// to do).
    @discardableResult
    func updateRepo(now: Date, attempts: Int = 8, _ change: (inout RepoInfo) throws -> UpdateKind?) throws -> RepoInfo {
        for attempt in 1...attempts {
            var (info, version, raw) = try versionedInfo()
            guard info.status.availability == 0 else { throw IcechunkError.invalid("the repository is not online (read only or offline)") }
            // nil: the change is already there (our own write landed though its answer was lost).
            guard let kind = try change(&info) else { return info }
            let backup = Self.backupName(now: Date())
            // Strictly increasing timestamps in the ops log, even when clocks disagree.
            let latest = info.latestUpdates.first?.updatedAt ?? 0
            let time = max(Self.micros(now), latest + 1)
            var updates = [Update(kind: kind, updatedAt: time, backupPath: nil)]
            if var top = info.latestUpdates.first {
                top.backupPath = backup
                updates.append(top)
            }
            // As icechunk does: past `updatesPerFile` entries, the first older entry with a
            // backup becomes the link (`repo_before_updates`) to the rest of the log.
            var before = info.repoBeforeUpdates
            var kept: [Update] = []
            for u in updates + info.latestUpdates.dropFirst() {
                if kept.count >= updatesPerFile, let path = u.backupPath {
                    before = path
                    break
                }
                kept.append(u)
            }
            info.latestUpdates = kept
            info.repoBeforeUpdates = before
            let encoded = try ObjectFile.encode(.repoInfo, flatbuffer: Codec.encodeRepo(info))
            // The backup holds exactly the bytes of the version being replaced.
            _ = try storage.createIfAbsent("overwritten/\(backup)", raw)
            if try storage.replace("repo", encoded, ifMatch: version) != nil { return info }
            // Lost the race (or the response to our own write was lost and the write landed):
            // the next round reads the new repo and `change` decides.
            if attempt < attempts { usleep(UInt32(min(1 << attempt, 64)) * 1000) }
        }
        throw IcechunkError.invalid("repo was replaced concurrently \(attempts) times in a row")
    }

    /// `repo.<ms until 3000-01-01, 14 digits>.<random id>`, so a listing shows the newest first.
    static func backupName(now: Date) -> String {
        let last: Int64 = 32_503_680_000_000
        let ms = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        let index = String(last - ms)
        return "repo.\(String(repeating: "0", count: max(0, 14 - index.count)) + index).\(ObjectId12.random())"
    }

    static func micros(_ date: Date) -> UInt64 { UInt64(max(0, (date.timeIntervalSince1970 * 1e6).rounded(.down))) }

    /// "/", "/a/b" (a leading "/" is added; no empty, "." or ".." segments, no trailing "/").
    static func normalise(_ path: String) throws -> String {
        let p = path.hasPrefix("/") ? path : "/" + path
        if p == "/" { return p }
        let segments = p.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw IcechunkError.invalid("node path \(path) is not canonical")
        }
        return p
    }
}
