import Foundation

/// One name/value of commit or repository metadata, with the value's FlexBuffers bytes kept
/// as read, so metadata another writer produced passes through a rewrite unchanged.
public struct MetadataItem: Equatable, Sendable {
    public let name: String
    public let encoded: [UInt8]

    public init(name: String, value: MetadataValue) {
        self.name = name
        encoded = FlexBuffers.encode(value)
    }

    init(name: String, encoded: [UInt8]) {
        self.name = name
        self.encoded = encoded
    }

    public func value() throws -> MetadataValue { try FlexBuffers.decode(encoded) }

    /// Sorted by name bytes, as the snapshot schema requires.
    static func sorted(_ metadata: [String: MetadataValue]) -> [MetadataItem] {
        metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { MetadataItem(name: $0, value: metadata[$0]!) }
    }
}

/// Where a chunk's bytes are: an object under `chunks/` (a byte range of it), inline in the
/// manifest, or (read only) a virtual reference to a URL outside the repository.
public enum ChunkPayload: Equatable, Sendable {
    case native(id: ObjectId12, offset: UInt64, length: UInt64)
    case inline([UInt8])
    case virtual(location: String, offset: UInt64, length: UInt64, etag: String?, lastModified: UInt32)
}

/// A chunk's coordinates in its array's chunk grid and where its bytes are.
public struct ChunkRef: Equatable, Sendable {
    public var coords: [UInt32]
    public var payload: ChunkPayload

    public init(coords: [UInt32], payload: ChunkPayload) {
        self.coords = coords
        self.payload = payload
    }
}

/// Lexicographic order of chunk coordinates (the order of refs in a manifest).
@inline(__always)
func coordsPrecede(_ a: [UInt32], _ b: [UInt32]) -> Bool { a.lexicographicallyPrecedes(b) }

/// The chunk-grid box a manifest covers: `from` inclusive, `to` exclusive, per dimension.
public struct Extent: Equatable, Sendable {
    public var from: [UInt32]
    public var to: [UInt32]

    public init(from: [UInt32], to: [UInt32]) {
        self.from = from
        self.to = to
    }

    public func contains(_ coords: [UInt32]) -> Bool {
        guard coords.count == from.count else { return false }
        for i in coords.indices where coords[i] < from[i] || coords[i] >= to[i] { return false }
        return true
    }

    public func overlaps(_ other: Extent) -> Bool {
        guard other.from.count == from.count else { return false }
        for i in from.indices where from[i] >= other.to[i] || other.from[i] >= to[i] { return false }
        return true
    }

    public func union(_ other: Extent) -> Extent {
        Extent(from: zip(from, other.from).map { min($0, $1) }, to: zip(to, other.to).map { max($0, $1) })
    }

    /// The bounding box of some coordinates (none: nil).
    static func bounding(_ coords: some Sequence<[UInt32]>) -> Extent? {
        var result: Extent?
        for c in coords {
            let box = Extent(from: c, to: c.map { $0 + 1 })
            result = result.map { $0.union(box) } ?? box
        }
        return result
    }
}

public struct ManifestRef: Equatable, Sendable {
    public var id: ObjectId12
    public var extent: Extent
}

public struct DimensionShape: Equatable, Sendable {
    public var arrayLength: UInt64
    public var numChunks: UInt32
}

public enum NodeKind: Equatable, Sendable {
    case group
    /// `dimensionNames`: nil when the array has none; an element is nil when unnamed.
    case array(shape: [DimensionShape], dimensionNames: [String?]?, manifests: [ManifestRef])
}

/// A group or array of a snapshot, with its `zarr.json` as user data.
public struct Node: Equatable, Sendable {
    public var id: NodeId
    public var path: String
    public var userData: [UInt8]
    public var kind: NodeKind

    public var isArray: Bool { if case .array = kind { return true } else { return false } }
    public var manifests: [ManifestRef] { if case .array(_, _, let m) = kind { return m } else { return [] } }
}

public struct ManifestFileInfo: Equatable, Sendable {
    public var id: ObjectId12
    public var sizeBytes: UInt64
    public var numChunkRefs: UInt32
}

public struct Snapshot: Equatable, Sendable {
    public var id: ObjectId12
    /// Sorted by path bytes.
    public var nodes: [Node]
    /// Microseconds since the Unix epoch.
    public var flushedAt: UInt64
    public var message: String
    public var metadata: [MetadataItem]
    /// Sorted by id.
    public var manifestFiles: [ManifestFileInfo]

    public func node(at path: String) -> Node? {
        let key = Array(path.utf8)
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let p = Array(nodes[mid].path.utf8)
            if p == key { return nodes[mid] }
            if p.lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }
}

public struct ArrayManifest: Equatable, Sendable {
    public var nodeId: NodeId
    /// Sorted by coordinates.
    public var refs: [ChunkRef]
}

public struct Manifest: Equatable, Sendable {
    public var id: ObjectId12
    /// Sorted by node id.
    public var arrays: [ArrayManifest]
}

public struct TransactionLog: Equatable, Sendable {
    public var id: ObjectId12
    public var newGroups: [NodeId] = []
    public var newArrays: [NodeId] = []
    public var deletedGroups: [NodeId] = []
    public var deletedArrays: [NodeId] = []
    public var updatedArrays: [NodeId] = []
    public var updatedGroups: [NodeId] = []
    /// Per array (sorted by node id), the coordinates written (sorted).
    public var updatedChunks: [(NodeId, [[UInt32]])] = []

    public init(id: ObjectId12) { self.id = id }

    public static func == (a: TransactionLog, b: TransactionLog) -> Bool {
        a.id == b.id && a.newGroups == b.newGroups && a.newArrays == b.newArrays && a.deletedGroups == b.deletedGroups
            && a.deletedArrays == b.deletedArrays && a.updatedArrays == b.updatedArrays && a.updatedGroups == b.updatedGroups
            && a.updatedChunks.map(\.0) == b.updatedChunks.map(\.0) && a.updatedChunks.map(\.1) == b.updatedChunks.map(\.1)
    }
}

// MARK: repo

/// A commit as the `repo` object lists it.
public struct SnapshotInfo: Equatable, Sendable {
    public var id: ObjectId12
    public var parent: ObjectId12?
    /// Microseconds since the Unix epoch.
    public var flushedAt: UInt64
    public var message: String
    public var metadata: [MetadataItem]
    /// Kept as read (spec 2.1 expiration); absent when never expired.
    var prunedAncestorTxLogs: [ObjectId12]?
}

/// One entry of the operations log (the union `UpdateType` of repo.fbs, in its order).
public enum UpdateKind: Equatable, Sendable {
    case repoInitialized
    case repoMigrated(from: UInt8, to: UInt8)
    case configChanged
    case metadataChanged
    case tagCreated(name: String)
    case tagDeleted(name: String, previous: ObjectId12)
    case branchCreated(name: String)
    case branchDeleted(name: String, previous: ObjectId12)
    case branchReset(name: String, previous: ObjectId12)
    case newCommit(branch: String, snapshot: ObjectId12)
    case commitAmended(branch: String, previous: ObjectId12, snapshot: ObjectId12)
    case newDetachedSnapshot(snapshot: ObjectId12)
    case gcRan
    case expirationRan
    case featureFlagChanged(id: UInt16, newValue: Bool, isSet: Bool)
    case repoStatusChanged(RepoStatus)
}

public struct Update: Equatable, Sendable {
    public var kind: UpdateKind
    /// Microseconds since the Unix epoch.
    public var updatedAt: UInt64
    /// The backup (under `overwritten/`) of the `repo` this update replaced.
    public var backupPath: String?
}

public struct RepoStatus: Equatable, Sendable {
    /// 0 online, 1 read only, 2 offline.
    public var availability: UInt8
    public var setAt: UInt64
    public var reason: String?
}

/// The `repo` object: the only mutable one.
public struct RepoInfo: Equatable, Sendable {
    public var specVersion: UInt8 = 2
    public var tags: [String: ObjectId12] = [:]
    public var branches: [String: ObjectId12] = [:]
    public var deletedTags: [String] = []
    /// Sorted by id.
    public var snapshots: [SnapshotInfo] = []
    public var status = RepoStatus(availability: 0, setAt: 0, reason: nil)
    public var metadata: [MetadataItem]? = nil
    /// Newest first.
    public var latestUpdates: [Update] = []
    public var repoBeforeUpdates: String? = nil
    /// The repository configuration (FlexBuffers), passed through unchanged.
    public var config: [UInt8]? = nil
    public var enabledFeatureFlags: [UInt16]? = nil
    public var disabledFeatureFlags: [UInt16]? = nil
    public var extra: [UInt8]? = nil

    public func snapshot(_ id: ObjectId12) -> SnapshotInfo? {
        var lo = 0, hi = snapshots.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if snapshots[mid].id == id { return snapshots[mid] }
            if snapshots[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }
}
