import CubeCore
import CubeStore
import Foundation
import Synchronization

/// An Icechunk repository seen as a cube `Store` (`icechunk:PATH`, `icechunk:s3://bucket/prefix`):
/// the Zarr v3 hierarchy of branch `main` as keys (`zarr.json`, `red/zarr.json`,
/// `red/c/0/3/7`), and the cube's bookkeeping (`_cube/…`) as plain objects beside the
/// repository, outside every snapshot, as a plain store keeps them.
///
/// - Reading (`.read`): keys come from one snapshot, the tip of `main` (followed as it moves)
///   or a pinned version; writes are refused.
/// - Writing (`.write`): a chunk put becomes a new object under `chunks/` (or stays inline when
///   small) and a metadata put a staged node; reads see these writes on top of the tip. The
///   writes reach a commit through the staging area (`StagingArea`): each process stages its
///   writes before any bookkeeping write, and the coordinator's session commits them all.
///   Until it does, `main` is exactly where it was, whatever happens to the processes.
public final class IcechunkStore: SessionStore, Sendable {
    public enum Mode: Sendable, Equatable {
        case write
        /// nil: the tip of `main`, re-read when it may have moved.
        case read(pinned: ObjectId12?)
    }

    public let repository: IcechunkRepository
    public let base: any ConditionalStore
    public let location: String
    public let mode: Mode
    public let branch = "main"
    /// Chunks up to this size stay inline in the manifest (icechunk's default threshold).
    static let inlineLimit = 512

    struct State {
        var tip: ObjectId12?
        var snapshot: Snapshot?
        var nodes: [String: Node] = [:]
        var tipChecked = Date.distantPast
        /// Manifests read so far (immutable objects), a bounded number of them.
        var manifests: [ObjectId12: [[UInt32]: ChunkPayload]] = [:]
        var manifestOrder: [ObjectId12] = []
        /// This process's writes not yet in a staged file, and those being written as one.
        var pending: [String: StagedValue] = [:]
        var flushing: [String: StagedValue] = [:]
        var lastName = ""
        /// Staged writes read back from the staging area (this process's and others'), with the
        /// file each came from.
        var staged: [String: (file: String, value: StagedValue)] = [:]
        var files: Set<String> = []
        /// Whether the node at a path is an array, for the staged metadata.
        var stagedTypes: [String: Bool] = [:]
    }

    let state = Mutex(State())
    static let manifestCacheSize = 512

    init(repository: IcechunkRepository, location: String, mode: Mode) {
        self.repository = repository
        base = repository.storage
        self.location = location
        self.mode = mode
    }

    public var description: String { location }

    var writable: Bool { mode == .write }

    // MARK: keys

    enum KeyKind: Equatable {
        case bookkeeping
        case metadata(path: String)
        case zarrV2
        case chunk
    }

    static func kind(_ key: String) -> KeyKind {
        if key == StoreKeys.folder || key.hasPrefix(StoreKeys.folderPrefix) { return .bookkeeping }
        let last = key.split(separator: "/").last.map(String.init) ?? key
        switch last {
        case "zarr.json":
            return .metadata(path: key == "zarr.json" ? "/" : "/" + key.dropLast("/zarr.json".count))
        case ".zarray", ".zgroup", ".zattrs", ".zmetadata": return .zarrV2
        default: return .chunk
        }
    }

    static func metadataKey(_ path: String) -> String { path == "/" ? "zarr.json" : String(path.dropFirst()) + "/zarr.json" }

    static func chunkKey(_ path: String, _ coords: [UInt32]) -> String {
        ([String(path.dropFirst())] + ["c"] + coords.map(String.init)).filter { !$0.isEmpty }.joined(separator: "/")
    }

    /// The array and chunk coordinates a chunk key names (default v3 encoding, "/" separated),
    /// given which paths are arrays.
    static func locate(_ key: String, isArray: (String) -> Bool) -> (path: String, coords: [UInt32])? {
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        for i in segments.indices where i > 0 && segments[i] == "c" {
            let path = "/" + segments[..<i].joined(separator: "/")
            guard isArray(path) else { continue }
            var coords: [UInt32] = []
            for s in segments[(i + 1)...] {
                guard let c = UInt32(s) else { return nil }
                coords.append(c)
            }
            return (path, coords)
        }
        return nil
    }

    // MARK: the snapshot underneath

    /// The snapshot reads go to (loaded on first use; a reader of the tip re-reads `repo` at
    /// most once a second, so `cube serve` follows new commits).
    func snapshot() throws -> (Snapshot, [String: Node]) {
        if case .read(nil) = mode {
            let stale = state.withLock { Date().timeIntervalSince($0.tipChecked) > 1 }
            if stale {
                let tip = try repository.tip(branch: branch)
                state.withLock { s in
                    if s.tip != tip { s.tip = tip; s.snapshot = nil }
                    s.tipChecked = Date()
                }
            }
        }
        if let loaded = state.withLock({ s in s.snapshot.map { ($0, s.nodes) } }) { return loaded }
        let id: ObjectId12
        if let known = state.withLock({ $0.tip }) { id = known } else if case .read(let pinned?) = mode { id = pinned } else {
            id = try repository.tip(branch: branch)
        }
        let snap = try repository.snapshot(id)
        var nodes: [String: Node] = [:]
        for n in snap.nodes { nodes[n.path] = n }
        state.withLock { s in
            s.tip = id
            s.snapshot = snap
            s.nodes = nodes
        }
        return (snap, nodes)
    }

    /// The snapshot id reads come from (the tip this session started from, or the pinned one).
    public func snapshotId() throws -> ObjectId12 { try snapshot().0.id }

    /// A chunk's payload in the snapshot, reading the one manifest whose extent holds it.
    func snapshotPayload(path: String, coords: [UInt32], nodes: [String: Node]) throws -> ChunkPayload? {
        guard let node = nodes[path] else { return nil }
        for m in node.manifests where m.extent.contains(coords) {
            if let cached = state.withLock({ $0.manifests[m.id] }) { return cached[coords] }
            let manifest = try repository.manifest(m.id)
            var refs: [[UInt32]: ChunkPayload] = [:]
            for r in manifest.arrays.first(where: { $0.nodeId == node.id })?.refs ?? [] { refs[r.coords] = r.payload }
            state.withLock { s in
                if s.manifests[m.id] == nil {
                    s.manifests[m.id] = refs
                    s.manifestOrder.append(m.id)
                    if s.manifestOrder.count > Self.manifestCacheSize { s.manifests[s.manifestOrder.removeFirst()] = nil }
                }
            }
            return refs[coords]
        }
        return nil
    }

    /// The staged or pending value of a key, if this process knows one (write mode only).
    func overlay(_ key: String) -> StagedValue? {
        guard writable else { return nil }
        return state.withLock { s in s.pending[key] ?? s.flushing[key] ?? s.staged[key]?.value }
    }

    func isArray(_ path: String, nodes: [String: Node]) -> Bool {
        if writable, let staged = state.withLock({ $0.stagedTypes[path] }) { return staged }
        return nodes[path]?.isArray ?? false
    }

    // MARK: Store

    public func get(_ key: String) throws -> Data? {
        try StoreKey.validate(key)
        switch Self.kind(key) {
        case .bookkeeping: return try base.get(key)
        case .zarrV2: return nil
        case .metadata(let path):
            switch overlay(key) {
            case .metadata(let data): return data
            case .deletedMetadata: return nil
            default: break
            }
            return try snapshot().1[path].map { Data($0.userData) }
        case .chunk:
            switch overlay(key) {
            case .chunk(let payload): return try repository.readChunk(payload)
            case .deletedChunk: return nil
            default: break
            }
            let nodes = try snapshot().1
            guard let (path, coords) = Self.locate(key, isArray: { isArray($0, nodes: nodes) }),
                  let payload = try snapshotPayload(path: path, coords: coords, nodes: nodes) else { return nil }
            return try repository.readChunk(payload)
        }
    }

    public func exists(_ key: String) throws -> Bool {
        try StoreKey.validate(key)
        switch Self.kind(key) {
        case .bookkeeping: return try base.exists(key)
        case .zarrV2: return false
        case .metadata(let path):
            switch overlay(key) {
            case .metadata: return true
            case .deletedMetadata: return false
            default: return try snapshot().1[path] != nil
            }
        case .chunk:
            switch overlay(key) {
            case .chunk: return true
            case .deletedChunk: return false
            default:
                let nodes = try snapshot().1
                guard let (path, coords) = Self.locate(key, isArray: { isArray($0, nodes: nodes) }) else { return false }
                return try snapshotPayload(path: path, coords: coords, nodes: nodes) != nil
            }
        }
    }

    func refuseRead(_ key: String) -> StoreError {
        .unsupported(location: location, reason: "opened read only (a version of the repository), so \(key) cannot be written")
    }

    public func put(_ key: String, _ data: Data) throws {
        try StoreKey.validate(key)
        guard writable else { throw refuseRead(key) }
        switch Self.kind(key) {
        case .bookkeeping:
            try flushPending()
            try base.put(key, data)
        case .zarrV2:
            throw StoreError.unsupported(location: location, reason: "an Icechunk repository holds Zarr v3 only, not \(key) (use zarr_format: 3)")
        case .metadata(let path):
            let parsed = try ZarrJSON(data, path: path)
            state.withLock { s in
                s.pending[key] = .metadata(data)
                s.stagedTypes[path] = parsed.isArray
            }
        case .chunk:
            let value: StagedValue = data.count <= Self.inlineLimit
                ? .chunk(.inline([UInt8](data))) : .chunk(try IcechunkRepository.writeChunk(data, to: base))
            state.withLock { $0.pending[key] = value }
        }
    }

    public func createIfAbsent(_ key: String, _ data: Data) throws -> Bool {
        try StoreKey.validate(key)
        guard writable else { throw refuseRead(key) }
        if Self.kind(key) == .bookkeeping {
            try flushPending()
            return try base.createIfAbsent(key, data)
        }
        // Zarr keys have one writer each (the job or the coordinator that owns them).
        if try exists(key) { return false }
        try put(key, data)
        return true
    }

    public func delete(_ key: String) throws {
        try StoreKey.validate(key)
        guard writable else { throw refuseRead(key) }
        switch Self.kind(key) {
        case .bookkeeping:
            try flushPending()
            try base.delete(key)
        case .zarrV2: return
        case .metadata(let path):
            state.withLock { s in
                s.pending[key] = .deletedMetadata
                s.stagedTypes[path] = nil
            }
        case .chunk:
            state.withLock { $0.pending[key] = .deletedChunk }
        }
    }

    public func list(prefix: String) throws -> [String] {
        let folder = try StoreKey.folderPrefix(prefix)
        var keys: [String] = []
        if folder.isEmpty || folder.hasPrefix(StoreKeys.folderPrefix) {
            keys += try base.list(prefix: folder.isEmpty ? StoreKeys.folder : prefix).filter { !$0.hasPrefix(StoreKeys.icechunkPrefix) }
        }
        if !folder.hasPrefix(StoreKeys.folderPrefix) {
            keys += try zarrKeys(within: folder)
        }
        return keys.sorted()
    }

    /// Every Zarr key (node metadata and chunks) below `folder`, the staged writes included.
    func zarrKeys(within folder: String) throws -> [String] {
        let (_, nodes) = try snapshot()
        var keys = Set<String>()
        for path in nodes.keys { keys.insert(Self.metadataKey(path)) }
        for node in nodes.values where node.isArray {
            let arrayFolder = node.path == "/" ? "" : String(node.path.dropFirst()) + "/"
            guard arrayFolder.hasPrefix(folder) || folder.hasPrefix(arrayFolder) else { continue }
            for m in node.manifests {
                let manifest = try repository.manifest(m.id)
                for r in manifest.arrays.first(where: { $0.nodeId == node.id })?.refs ?? [] {
                    keys.insert(Self.chunkKey(node.path, r.coords))
                }
            }
        }
        if writable {
            let overlay = state.withLock { s -> [String: StagedValue] in
                var all = s.staged.mapValues(\.value)
                for (k, v) in s.flushing { all[k] = v }
                for (k, v) in s.pending { all[k] = v }
                return all
            }
            for (key, value) in overlay {
                switch value {
                case .chunk, .metadata: keys.insert(key)
                case .deletedChunk, .deletedMetadata: keys.remove(key)
                }
            }
        }
        return keys.filter { $0.hasPrefix(folder) }
    }

    public func listChildren(prefix: String) throws -> StoreChildren {
        let folder = try StoreKey.folderPrefix(prefix)
        if folder.hasPrefix(StoreKeys.folderPrefix) {
            var children = try base.listChildren(prefix: prefix)
            if folder == StoreKeys.folderPrefix { children.folders.removeAll { $0 == "icechunk" } }
            return children
        }
        // Inside an array (its chunk folders): from the full listing.
        let (_, nodes) = try snapshot()
        let stagedArrays = state.withLock { s in s.stagedTypes.filter(\.value).map(\.key) }
        let arrays = nodes.values.filter(\.isArray).map(\.path) + (writable ? stagedArrays : [])
        if arrays.contains(where: { folder.hasPrefix(String($0.dropFirst()) + "/") }) {
            return try listChildrenByListing(folder)
        }
        // A group: its child nodes, from the metadata keys alone (no manifest is read).
        var objects = Set<String>()
        var folders = Set<String>()
        var metadataKeys = Set(nodes.keys.map(Self.metadataKey))
        if writable {
            let overlay = state.withLock { s -> [String: StagedValue] in
                var all = s.staged.mapValues(\.value)
                for (k, v) in s.flushing { all[k] = v }
                for (k, v) in s.pending { all[k] = v }
                return all.filter { $0.value.isMetadata }
            }
            for (key, value) in overlay {
                if value == .deletedMetadata { metadataKeys.remove(key) } else { metadataKeys.insert(key) }
            }
        }
        for key in metadataKeys where key.hasPrefix(folder) {
            let rest = key.dropFirst(folder.count)
            if let slash = rest.firstIndex(of: "/") { folders.insert(String(rest[..<slash])) } else { objects.insert(String(rest)) }
        }
        if folder.isEmpty, !(try base.list(prefix: StoreKeys.folder).filter { !$0.hasPrefix(StoreKeys.icechunkPrefix) }.isEmpty) {
            folders.insert(StoreKeys.folder)
        }
        return StoreChildren(objects: objects.sorted(), folders: folders.sorted())
    }

    private func listChildrenByListing(_ folder: String) throws -> StoreChildren {
        var objects: [String] = []
        var folders = Set<String>()
        for key in try zarrKeys(within: folder) {
            let rest = key.dropFirst(folder.count)
            if let slash = rest.firstIndex(of: "/") { folders.insert(String(rest[..<slash])) } else { objects.append(String(rest)) }
        }
        return StoreChildren(objects: objects.sorted(), folders: folders.sorted())
    }

    // MARK: staging

    /// Writes this process's pending writes as one staged file (nothing when there are none).
    /// Called before every bookkeeping write, so a done record or marker is never stored
    /// before the writes it vouches for.
    public func flushPending() throws {
        guard writable else { return }
        let (entries, name) = state.withLock { s -> ([(String, StagedValue)], String) in
            guard !s.pending.isEmpty else { return ([], "") }
            var name = StagingArea.newName()
            while name <= s.lastName { name = StagingArea.newName(now: Date().addingTimeInterval(1e-6)) }
            s.lastName = name
            let entries = s.pending.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            for (k, v) in s.pending { s.flushing[k] = v }
            s.pending = [:]
            return (entries, name)
        }
        guard !entries.isEmpty else { return }
        do {
            try base.put(name, StagingArea.encode(entries))
        } catch {
            state.withLock { s in
                for (k, v) in entries {
                    if s.flushing[k] == v { s.flushing[k] = nil }
                    if s.pending[k] == nil { s.pending[k] = v }
                }
            }
            throw error
        }
        state.withLock { s in
            s.files.insert(name)
            for (k, v) in entries {
                if s.flushing[k] == v { s.flushing[k] = nil }
                Self.apply(&s, file: name, key: k, value: v)
            }
        }
    }

    static func apply(_ s: inout State, file: String, key: String, value: StagedValue) {
        if let old = s.staged[key], old.file > file { return }
        s.staged[key] = (file, value)
        if case .metadata(let path) = kind(key) {
            switch value {
            case .metadata(let data): s.stagedTypes[path] = (try? ZarrJSON(data, path: path))?.isArray
            case .deletedMetadata: s.stagedTypes[path] = nil
            default: break
            }
        }
    }

    /// Reads the staged files other processes wrote since the last call.
    public func refreshStaged() throws {
        guard writable else { return }
        try recoverIntent()
        let names = try base.list(prefix: StagingArea.prefix).filter { $0.hasSuffix(".json") }
        let known = state.withLock { $0.files }
        for name in names where !known.contains(name) {
            // A file removed in between was committed by someone else's clean-up: skip it.
            guard let data = try base.get(name) else { continue }
            let entries = try StagingArea.decode(data, name: name)
            state.withLock { s in
                s.files.insert(name)
                for (k, v) in entries { Self.apply(&s, file: name, key: k, value: v) }
            }
        }
    }

    public func beginSession(_ options: SessionOptions) throws -> any WriteSession {
        guard writable else {
            throw StoreError.unsupported(location: location, reason: "opened read only (a version of the repository); a build needs the tip of main")
        }
        return IcechunkSession(store: self, options: options)
    }
}
