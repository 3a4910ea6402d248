import CubeStore
import Foundation

extension IcechunkRepository {
    /// Commits changes on top of `parent` and moves `branch` to the new snapshot, only if the
    /// branch still points at `parent`.
    ///
    /// - `nodes`: path ("/", "/red") → the node's complete zarr.json. New paths become new
    ///   groups or arrays; existing ones keep their node id and take the new metadata. Nodes
    ///   not named are carried over from the parent unchanged.
    /// - `chunks`: array path → refs written in this commit (from `writeChunk`, or inline).
    ///   They replace the parent's refs at the same coordinates. Only the manifests whose
    ///   region the refs fall in are rewritten; every other manifest of the parent is reused.
    /// - `deletingChunks`: array path → coordinates whose refs are removed (a chunk that now
    ///   holds only fill values). A coordinate both given in `chunks` and deleted keeps the ref.
    /// - `deleting`: paths removed with everything below them (applied before `nodes`, so a
    ///   path deleted and given again is a new node with a new id).
    /// - `metadata`: commit properties (stored as FlexBuffers, as icechunk does).
    /// - `id`: the new snapshot's id (random by default; a caller that records its intent
    ///   before committing names it first).
    ///
    /// Throws `IcechunkError.conflict` (and moves nothing) when another writer moved the branch.
    @discardableResult
    public func commit(branch: String, parent: ObjectId12, deleting: [String] = [], nodes: [String: Data] = [:],
                       chunks: [String: [ChunkRef]] = [:], deletingChunks: [String: [[UInt32]]] = [:], message: String,
                       metadata: [String: MetadataValue] = [:], now: Date = Date(),
                       id: ObjectId12 = .random()) throws -> ObjectId12 {
        let base = try snapshot(parent)
        var tx = TransactionLog(id: id)

        // 1. The node tree: the parent's, with the named nodes added or replaced.
        var byPath: [String: Node] = [:]
        for n in base.nodes { byPath[n.path] = n }
        for rawPath in deleting {
            let path = try Self.normalise(rawPath)
            guard byPath[path] != nil else { throw IcechunkError.notFound("node \(path) to delete in snapshot \(parent)") }
            let prefix = path == "/" ? "/" : path + "/"
            for (p, node) in byPath where p == path || p.hasPrefix(prefix) {
                byPath[p] = nil
                if node.isArray { tx.deletedArrays.append(node.id) } else { tx.deletedGroups.append(node.id) }
            }
        }
        for (rawPath, json) in nodes {
            let path = try Self.normalise(rawPath)
            let parsed = try ZarrJSON(json, path: path)
            if var existing = byPath[path] {
                guard existing.isArray == parsed.isArray else {
                    throw IcechunkError.invalid("\(path) changes between group and array; delete and re-create it instead")
                }
                if existing.userData != [UInt8](json) {
                    if existing.isArray { tx.updatedArrays.append(existing.id) } else { tx.updatedGroups.append(existing.id) }
                }
                existing.userData = [UInt8](json)
                if parsed.isArray {
                    existing.kind = .array(shape: parsed.shape, dimensionNames: parsed.dimensionNames, manifests: existing.manifests)
                }
                byPath[path] = existing
            } else {
                let node = Node(id: NodeId.random(), path: path, userData: [UInt8](json),
                                kind: parsed.isArray ? .array(shape: parsed.shape, dimensionNames: parsed.dimensionNames, manifests: []) : .group)
                if parsed.isArray { tx.newArrays.append(node.id) } else { tx.newGroups.append(node.id) }
                byPath[path] = node
            }
        }

        // 2. Manifests: for each array with new refs, the regions they touch.
        var fileInfo: [ObjectId12: ManifestFileInfo] = [:]
        for f in base.manifestFiles { fileInfo[f.id] = f }
        var changes: [String: [ChunkChange]] = [:]
        for (rawPath, coords) in deletingChunks where !coords.isEmpty {
            changes[try Self.normalise(rawPath), default: []] += coords.map { ChunkChange(coords: $0, payload: nil) }
        }
        for (rawPath, refs) in chunks where !refs.isEmpty {
            changes[try Self.normalise(rawPath), default: []] += refs.map { ChunkChange(coords: $0.coords, payload: $0.payload) }
        }
        for (path, refs) in changes.sorted(by: { $0.key < $1.key }) {
            guard var node = byPath[path], case let .array(shape, names, manifests) = node.kind else {
                throw IcechunkError.invalid("chunks for \(path), which is not an array of this commit")
            }
            let (newManifests, files, coords) = try writeArrayManifests(node: node, shape: shape, names: names,
                                                                        existing: manifests, refs: refs)
            for info in files { fileInfo[info.id] = info }
            node.kind = .array(shape: shape, dimensionNames: names, manifests: newManifests)
            byPath[path] = node
            tx.updatedChunks.append((node.id, coords))
        }
        tx.updatedChunks.sort { $0.0 < $1.0 }

        // 3. The snapshot lists exactly the manifests its arrays reference, with their sizes.
        let sortedNodes = byPath.values.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
        var referenced = Set<ObjectId12>()
        for n in sortedNodes { for m in n.manifests { referenced.insert(m.id) } }
        let files = try referenced.sorted().map { mid -> ManifestFileInfo in
            guard let info = fileInfo[mid] else { throw IcechunkError.corrupt("parent \(parent) references manifest \(mid) it does not list") }
            return info
        }
        let time = Self.micros(now)
        let snapshot = Snapshot(id: id, nodes: sortedNodes, flushedAt: time, message: message,
                                metadata: MetadataItem.sorted(metadata), manifestFiles: files)

        // 4. Immutable objects first (the manifests are already written), then the one
        //    conditional write that makes them visible.
        try storage.put("transactions/\(id)", ObjectFile.encode(.transactionLog, flatbuffer: Codec.encodeTransactionLog(tx)))
        try storage.put("snapshots/\(id)", ObjectFile.encode(.snapshot, flatbuffer: Codec.encodeSnapshot(snapshot)))
        try updateRepo(now: now) { info in
            let current = info.branches[branch]
            // Our replace landed but its answer was lost (a retried PUT answered 412): done.
            if current == id { return nil }
            guard current == parent else { throw IcechunkError.conflict(branch: branch, expected: parent, actual: current) }
            guard info.snapshot(parent) != nil else { throw IcechunkError.notFound("snapshot \(parent) in repo") }
            let entry = SnapshotInfo(id: id, parent: parent, flushedAt: time, message: message,
                                     metadata: snapshot.metadata, prunedAncestorTxLogs: nil)
            let at = info.snapshots.firstIndex { $0.id > id } ?? info.snapshots.count
            info.snapshots.insert(entry, at: at)
            info.branches[branch] = id
            return .newCommit(branch: branch, snapshot: id)
        }
        return id
    }

    /// Writes the manifests of one array for refs on top of its `existing` manifests, each as
    /// soon as it is encoded (immutable objects: harmless if the commit fails later), so memory
    /// holds one encoded manifest at a time. Returns the array's new manifest list, the files
    /// written and the coordinates.
    func writeArrayManifests(node: Node, shape: [DimensionShape], names: [String?]?, existing: [ManifestRef],
                             refs: [ChunkChange]) throws -> ([ManifestRef], [ManifestFileInfo], [[UInt32]]) {
        let rank = shape.count
        // Last ref wins at a coordinate (a stable sort keeps the given order among equals).
        var sorted = refs.enumerated().sorted { a, b in
            coordsPrecede(a.element.coords, b.element.coords) || (a.element.coords == b.element.coords && a.offset < b.offset)
        }.map(\.element)
        var unique: [ChunkChange] = []
        unique.reserveCapacity(sorted.count)
        for r in sorted {
            guard r.coords.count == rank else { throw IcechunkError.invalid("chunk \(r.coords) of \(node.path) has \(r.coords.count) coordinates, the array \(rank)") }
            for (c, d) in zip(r.coords, shape) where c >= d.numChunks {
                throw IcechunkError.invalid("chunk \(r.coords) lies outside \(node.path)'s grid of \(shape.map(\.numChunks)) chunks")
            }
            if unique.last?.coords == r.coords { unique[unique.count - 1] = r } else { unique.append(r) }
        }
        sorted = []
        let coords = unique.map(\.coords)

        // Group by manifest block.
        let blocks = splitting.blocks(names, rank: rank)
        var groups: [[UInt32]: [ChunkChange]] = [:]
        for r in unique {
            let key = zip(r.coords, blocks).map { $0 / $1 }
            groups[key, default: []].append(r)
        }
        // A region: refs keyed by coordinates, a box, and the existing manifests it absorbed.
        struct Region { var box: Extent; var refs: [ChunkChange] }
        var regions: [Region] = groups.keys.sorted { coordsPrecede($0, $1) }.map { key in
            let refs = groups[key]!
            return Region(box: Extent.bounding(refs.map(\.coords))!, refs: refs)
        }
        var kept = existing
        // Merge until no region overlaps a kept manifest or another region: extents of one
        // array must not overlap. An overlapped manifest's refs join the region (new refs win).
        var changed = true
        while changed {
            changed = false
            var i = 0
            while i < regions.count {
                if let k = kept.firstIndex(where: { $0.extent.overlaps(regions[i].box) }) {
                    let old = kept.remove(at: k)
                    let theirs = (try manifest(old.id).arrays.first { $0.nodeId == node.id }?.refs ?? [])
                        .map { ChunkChange(coords: $0.coords, payload: $0.payload) }
                    regions[i].refs = Self.merge(theirs, under: regions[i].refs)
                    regions[i].box = regions[i].box.union(old.extent)
                    changed = true
                    continue
                }
                if let j = regions.indices.first(where: { $0 != i && regions[$0].box.overlaps(regions[i].box) }) {
                    let other = regions.remove(at: j)
                    let at = j < i ? i - 1 : i
                    regions[at].refs = Self.merge(other.refs, under: regions[at].refs)
                    regions[at].box = regions[at].box.union(other.box)
                    changed = true
                    i = at
                    continue
                }
                i += 1
            }
        }
        var files: [ManifestFileInfo] = []
        var result = kept
        for region in regions {
            // Deletions leave no ref; a region left without refs needs no manifest.
            let live = region.refs.compactMap { c in c.payload.map { ChunkRef(coords: c.coords, payload: $0) } }
            guard !live.isEmpty else { continue }
            let mid = ObjectId12.random()
            let m = Manifest(id: mid, arrays: [ArrayManifest(nodeId: node.id, refs: live)])
            let data = try ObjectFile.encode(.manifest, flatbuffer: Codec.encodeManifest(m))
            try storage.put("manifests/\(mid)", data)
            files.append(ManifestFileInfo(id: mid, sizeBytes: UInt64(data.count), numChunkRefs: UInt32(live.count)))
            // Tight extents, as icechunk writes them: the bounding box of the refs.
            result.append(ManifestRef(id: mid, extent: Extent.bounding(live.map(\.coords)) ?? region.box))
        }
        return (result, files, coords)
    }

    /// Both lists sorted by coordinates; at equal coordinates `top` wins.
    static func merge(_ bottom: [ChunkChange], under top: [ChunkChange]) -> [ChunkChange] {
        var out: [ChunkChange] = []
        out.reserveCapacity(bottom.count + top.count)
        var i = 0, j = 0
        while i < bottom.count || j < top.count {
            if j == top.count || (i < bottom.count && coordsPrecede(bottom[i].coords, top[j].coords)) {
                out.append(bottom[i]); i += 1
            } else if i < bottom.count && bottom[i].coords == top[j].coords {
                out.append(top[j]); i += 1; j += 1
            } else {
                out.append(top[j]); j += 1
            }
        }
        return out
    }
}

/// A chunk ref written (payload) or removed (nil) by a commit.
struct ChunkChange {
    var coords: [UInt32]
    var payload: ChunkPayload?
}

/// What a commit needs from a node's zarr.json: group or array, and for an array its shape in
/// chunks (the outer chunk grid: a shard is one Icechunk chunk) and dimension names.
struct ZarrJSON {
    var isArray: Bool
    var shape: [DimensionShape] = []
    var dimensionNames: [String?]?

    init(_ data: Data, path: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw IcechunkError.invalid("the zarr.json of \(path) is not a JSON object")
        }
        guard (object["zarr_format"] as? Int) == 3 else { throw IcechunkError.invalid("\(path): zarr_format is not 3") }
        switch object["node_type"] as? String {
        case "group": isArray = false
        case "array":
            isArray = true
            guard let dims = object["shape"] as? [Int],
                  let grid = object["chunk_grid"] as? [String: Any], (grid["name"] as? String) == "regular",
                  let config = grid["configuration"] as? [String: Any], let chunk = config["chunk_shape"] as? [Int],
                  chunk.count == dims.count, dims.allSatisfy({ $0 >= 0 }), chunk.allSatisfy({ $0 > 0 }) else {
                throw IcechunkError.invalid("\(path): an array needs shape and a regular chunk_grid of the same rank")
            }
            shape = zip(dims, chunk).map { DimensionShape(arrayLength: UInt64($0), numChunks: UInt32(($0 + $1 - 1) / $1)) }
            if let names = object["dimension_names"] as? [Any] {
                dimensionNames = names.map { $0 as? String }
            }
        default: throw IcechunkError.invalid("\(path): node_type is neither group nor array")
        }
    }
}
