/// FlatBuffers encoding and decoding of the four metadata objects, slot by slot as the
/// schemas in icechunk-format/flatbuffers/*.fbs declare the fields (a union takes two slots:
/// its type, then its value). The reference builder leaves out scalar fields equal to their
/// default; readers return the default, so both spellings read the same.
enum Codec {
    typealias B = FlatBufferBuilder
    typealias R = FlatBufferReader

    // MARK: shared pieces

    static func id12(_ slice: ArraySlice<UInt8>) throws -> ObjectId12 {
        guard let id = ObjectId12(bytes: slice) else { throw IcechunkError.corrupt("object id of \(slice.count) bytes") }
        return id
    }

    static func id8(_ slice: ArraySlice<UInt8>) throws -> NodeId {
        guard let id = NodeId(bytes: slice) else { throw IcechunkError.corrupt("node id of \(slice.count) bytes") }
        return id
    }

    static func writeMetadata(_ b: inout B, _ items: [MetadataItem]) -> B.Offset {
        let offsets = items.map { item -> B.Offset in
            let name = b.createString(item.name)
            let value = b.createVector(bytes: item.encoded)
            b.startTable()
            b.add(0, offset: name)
            b.add(1, offset: value)
            return b.endTable()
        }
        return b.createVector(offsets: offsets)
    }

    static func readMetadata(_ v: R.Vector) throws -> [MetadataItem] {
        try (0..<v.count).map { i in
            let t = try v.table(i)
            let name = try t.requiredString(0, "metadata name")
            guard let value = try t.bytes(1) else { throw IcechunkError.corrupt("metadata \(name) has no value") }
            return MetadataItem(name: name, encoded: value)
        }
    }

    static func writeIds8(_ b: inout B, _ ids: [NodeId]) -> B.Offset {
        b.createVector(structs: ids.map(\.bytes), elementSize: 8, alignment: 1)
    }

    static func readIds8(_ v: R.Vector) throws -> [NodeId] {
        try (0..<v.count).map { try id8(v.element($0)) }
    }

    /// Strictly increasing: sorted and without duplicates, as the schemas require.
    static func isSorted<T>(_ items: [T], by less: (T, T) -> Bool) -> Bool {
        items.indices.dropFirst().allSatisfy { less(items[$0 - 1], items[$0]) }
    }

    static func readU32s(_ v: R.Vector) throws -> [UInt32] {
        try (0..<v.count).map { try v.u32($0) }
    }

    // MARK: snapshot

    static func encodeSnapshot(_ s: Snapshot) -> [UInt8] {
        var b = B(capacity: 4096 + s.nodes.count * 256)
        let files = s.manifestFiles.sorted { $0.id < $1.id }.map { f -> B.Offset in
            b.startTable()
            b.add(0, structBytes: f.id.bytes, alignment: 1)
            b.add(1, f.sizeBytes)
            b.add(2, f.numChunkRefs)
            return b.endTable()
        }
        let filesV2 = b.createVector(offsets: files)
        let filesV1 = b.createVector(structs: [], elementSize: 32, alignment: 8)
        let metadata = writeMetadata(&b, s.metadata)
        let message = b.createString(s.message)
        let nodes = s.nodes.map { writeNode(&b, $0) }
        let nodeVector = b.createVector(offsets: nodes)
        b.startTable()
        b.add(0, structBytes: s.id.bytes, alignment: 1)
        b.add(2, offset: nodeVector)
        b.add(3, s.flushedAt)
        b.add(4, offset: message)
        b.add(5, offset: metadata)
        b.add(6, offset: filesV1)
        b.add(7, offset: filesV2)
        let root = b.endTable()
        return b.finish(root: root, identifier: ObjectFile.identifier)
    }

    static func writeNode(_ b: inout B, _ n: Node) -> B.Offset {
        let path = b.createString(n.path)
        let data: B.Offset
        let dataType: UInt8
        switch n.kind {
        case .group:
            b.startTable()
            data = b.endTable()
            dataType = 2
        case let .array(shape, names, manifests):
            let refs = manifests.map { m -> B.Offset in
                let extents = b.createVector(structs: zip(m.extent.from, m.extent.to).map { StructBytes.le($0) + StructBytes.le($1) },
                                             elementSize: 8, alignment: 4)
                b.startTable()
                b.add(0, structBytes: m.id.bytes, alignment: 1)
                b.add(1, offset: extents)
                return b.endTable()
            }
            let manifestVector = b.createVector(offsets: refs)
            let nameVector = names.map { names -> B.Offset in
                let tables = names.map { name -> B.Offset in
                    let s = name.map { b.createString($0) }
                    b.startTable()
                    b.add(0, offset: s)
                    return b.endTable()
                }
                return b.createVector(offsets: tables)
            }
            let dims = shape.map { d -> B.Offset in
                b.startTable()
                b.add(0, d.arrayLength)
                b.add(1, d.numChunks)
                return b.endTable()
            }
            let shapeV2 = b.createVector(offsets: dims)
            let shapeV1 = b.createVector(structs: [], elementSize: 16, alignment: 8)
            b.startTable()
            b.add(0, offset: shapeV1)
            b.add(1, offset: nameVector)
            b.add(2, offset: manifestVector)
            b.add(3, offset: shapeV2)
            data = b.endTable()
            dataType = 1
        }
        let userData = b.createVector(bytes: n.userData)
        b.startTable()
        b.add(0, structBytes: n.id.bytes, alignment: 1)
        b.add(1, offset: path)
        b.add(2, offset: userData)
        b.add(3, dataType)
        b.add(4, offset: data)
        return b.endTable()
    }

    static func decodeSnapshot(_ bytes: [UInt8]) throws -> Snapshot {
        let r = R(bytes)
        let t = try r.root(identifier: ObjectFile.identifier)
        let id = try id12(t.requiredStruct(0, size: 12, "snapshot id"))
        let nodeVector = try t.requiredVector(2, elementSize: 4, "nodes")
        var nodes: [Node] = []
        nodes.reserveCapacity(nodeVector.count)
        for i in 0..<nodeVector.count { nodes.append(try readNode(nodeVector.table(i))) }
        for i in nodes.indices.dropFirst() where !Array(nodes[i - 1].path.utf8).lexicographicallyPrecedes(Array(nodes[i].path.utf8)) {
            throw IcechunkError.corrupt("snapshot nodes are not sorted by path (\(nodes[i].path))")
        }
        var files: [ManifestFileInfo] = []
        if let v2 = try t.vector(7, elementSize: 4) {
            for i in 0..<v2.count {
                let f = try v2.table(i)
                files.append(ManifestFileInfo(id: try id12(f.requiredStruct(0, size: 12, "manifest id")),
                                              sizeBytes: try f.u64(1), numChunkRefs: try f.u32(2)))
            }
        }
        guard isSorted(files.map(\.id), by: <) else { throw IcechunkError.corrupt("manifest_files_v2 is not sorted by id") }
        let metadata = try t.vector(5, elementSize: 4).map(readMetadata) ?? []
        guard isSorted(metadata.map { Array($0.name.utf8) }, by: { $0.lexicographicallyPrecedes($1) }) else {
            throw IcechunkError.corrupt("snapshot metadata is not sorted by name")
        }
        return Snapshot(id: id, nodes: nodes, flushedAt: try t.u64(3), message: try t.requiredString(4, "message"),
                        metadata: metadata, manifestFiles: files)
    }

    static func readNode(_ t: R.Table) throws -> Node {
        let id = try id8(t.requiredStruct(0, size: 8, "node id"))
        let path = try t.requiredString(1, "node path")
        guard let userData = try t.bytes(2) else { throw IcechunkError.corrupt("node \(path) has no user data") }
        let data = try t.requiredTable(4, "node data")
        switch try t.u8(3) {
        case 2: return Node(id: id, path: path, userData: userData, kind: .group)
        case 1:
            var shape: [DimensionShape] = []
            if let v2 = try data.vector(3, elementSize: 4) {
                for i in 0..<v2.count {
                    let d = try v2.table(i)
                    shape.append(DimensionShape(arrayLength: try d.u64(0), numChunks: try d.u32(1)))
                }
            } else {
                throw IcechunkError.corrupt("array \(path) has no shape_v2 (a spec 1 snapshot?)")
            }
            var names: [String?]?
            if let v = try data.vector(1, elementSize: 4) {
                names = try (0..<v.count).map { try v.table($0).string(0) }
            }
            let mv = try data.requiredVector(2, elementSize: 4, "manifests of \(path)")
            var manifests: [ManifestRef] = []
            for i in 0..<mv.count {
                let m = try mv.table(i)
                let mid = try id12(m.requiredStruct(0, size: 12, "manifest ref id"))
                let ev = try m.requiredVector(1, elementSize: 8, "extents")
                var from: [UInt32] = [], to: [UInt32] = []
                for k in 0..<ev.count {
                    from.append(try r(ev).u32(ev.position(k)))
                    to.append(try r(ev).u32(ev.position(k) + 4))
                }
                manifests.append(ManifestRef(id: mid, extent: Extent(from: from, to: to)))
            }
            return Node(id: id, path: path, userData: userData, kind: .array(shape: shape, dimensionNames: names, manifests: manifests))
        case let other: throw IcechunkError.corrupt("node \(path) has node data type \(other)")
        }
    }

    private static func r(_ v: R.Vector) -> R { v.reader }

    // MARK: manifest

    static func encodeManifest(_ m: Manifest) -> [UInt8] {
        let refCount = m.arrays.reduce(0) { $0 + $1.refs.count }
        var b = B(capacity: 1024 + refCount * 48)
        let arrays = m.arrays.map { a -> B.Offset in
            let refs = a.refs.map { ref -> B.Offset in
                let index = b.createVector(ref.coords)
                switch ref.payload {
                case let .native(id, offset, length):
                    b.startTable()
                    b.add(0, offset: index)
                    b.add(2, offset)
                    b.add(3, length)
                    b.add(4, structBytes: id.bytes, alignment: 1)
                    return b.endTable()
                case let .inline(data):
                    let inline = b.createVector(bytes: data)
                    b.startTable()
                    b.add(0, offset: index)
                    b.add(1, offset: inline)
                    return b.endTable()
                case let .virtual(location, offset, length, etag, lastModified):
                    let loc = b.createString(location)
                    let tag = etag.map { b.createString($0) }
                    b.startTable()
                    b.add(0, offset: index)
                    b.add(2, offset)
                    b.add(3, length)
                    b.add(5, offset: loc)
                    b.add(6, offset: tag)
                    b.add(7, lastModified)
                    return b.endTable()
                }
            }
            let refVector = b.createVector(offsets: refs)
            b.startTable()
            b.add(0, structBytes: a.nodeId.bytes, alignment: 1)
            b.add(1, offset: refVector)
            return b.endTable()
        }
        let arrayVector = b.createVector(offsets: arrays)
        b.startTable()
        b.add(0, structBytes: m.id.bytes, alignment: 1)
        b.add(1, offset: arrayVector)
        // No virtual locations are compressed: 0 ("none") says so explicitly.
        b.add(3, UInt8(0), default: 1)
        let root = b.endTable()
        return b.finish(root: root, identifier: ObjectFile.identifier)
    }

    static func decodeManifest(_ bytes: [UInt8]) throws -> Manifest {
        let r = R(bytes)
        let t = try r.root(identifier: ObjectFile.identifier)
        let id = try id12(t.requiredStruct(0, size: 12, "manifest id"))
        let av = try t.requiredVector(1, elementSize: 4, "arrays")
        var arrays: [ArrayManifest] = []
        for i in 0..<av.count {
            let a = try av.table(i)
            let node = try id8(a.requiredStruct(0, size: 8, "array node id"))
            let rv = try a.requiredVector(1, elementSize: 4, "refs")
            var refs: [ChunkRef] = []
            refs.reserveCapacity(rv.count)
            for k in 0..<rv.count {
                let c = try rv.table(k)
                let coords = try readU32s(c.requiredVector(0, elementSize: 4, "chunk index"))
                let payload: ChunkPayload
                if let inline = try c.bytes(1) {
                    payload = .inline(inline)
                } else if let chunk = try c.structBytes(4, size: 12) {
                    payload = .native(id: try id12(chunk), offset: try c.u64(2), length: try c.u64(3))
                } else if let location = try c.string(5) {
                    payload = .virtual(location: location, offset: try c.u64(2), length: try c.u64(3),
                                       etag: try c.string(6), lastModified: try c.u32(7))
                } else if try c.vector(8, elementSize: 1) != nil {
                    throw IcechunkError.invalid("virtual chunk refs with compressed locations are not supported")
                } else {
                    throw IcechunkError.corrupt("chunk ref \(coords) has no payload")
                }
                if let last = refs.last, !coordsPrecede(last.coords, coords) {
                    throw IcechunkError.corrupt("chunk refs are not sorted (\(coords))")
                }
                refs.append(ChunkRef(coords: coords, payload: payload))
            }
            if let last = arrays.last, !(last.nodeId < node) { throw IcechunkError.corrupt("manifest arrays are not sorted by node id") }
            arrays.append(ArrayManifest(nodeId: node, refs: refs))
        }
        return Manifest(id: id, arrays: arrays)
    }

    // MARK: transaction log

    static func encodeTransactionLog(_ tx: TransactionLog) -> [UInt8] {
        var b = B(capacity: 1024 + tx.updatedChunks.reduce(0) { $0 + $1.1.count * 32 })
        let chunks = tx.updatedChunks.map { (node, coords) -> B.Offset in
            let tables = coords.map { c -> B.Offset in
                let v = b.createVector(c)
                b.startTable()
                b.add(0, offset: v)
                return b.endTable()
            }
            let tv = b.createVector(offsets: tables)
            b.startTable()
            b.add(0, structBytes: node.bytes, alignment: 1)
            b.add(1, offset: tv)
            return b.endTable()
        }
        let updated = b.createVector(offsets: chunks)
        let lists = [tx.newGroups, tx.newArrays, tx.deletedGroups, tx.deletedArrays, tx.updatedArrays, tx.updatedGroups]
            .map { writeIds8(&b, $0.sorted()) }
        let moved = b.createVector(offsets: [])
        b.startTable()
        b.add(0, structBytes: tx.id.bytes, alignment: 1)
        for (i, list) in lists.enumerated() { b.add(1 + i, offset: list) }
        b.add(7, offset: updated)
        b.add(8, offset: moved)
        let root = b.endTable()
        return b.finish(root: root, identifier: ObjectFile.identifier)
    }

    static func decodeTransactionLog(_ bytes: [UInt8]) throws -> TransactionLog {
        let r = R(bytes)
        let t = try r.root(identifier: ObjectFile.identifier)
        var tx = TransactionLog(id: try id12(t.requiredStruct(0, size: 12, "transaction id")))
        tx.newGroups = try readIds8(t.requiredVector(1, elementSize: 8, "new_groups"))
        tx.newArrays = try readIds8(t.requiredVector(2, elementSize: 8, "new_arrays"))
        tx.deletedGroups = try readIds8(t.requiredVector(3, elementSize: 8, "deleted_groups"))
        tx.deletedArrays = try readIds8(t.requiredVector(4, elementSize: 8, "deleted_arrays"))
        tx.updatedArrays = try readIds8(t.requiredVector(5, elementSize: 8, "updated_arrays"))
        tx.updatedGroups = try readIds8(t.requiredVector(6, elementSize: 8, "updated_groups"))
        for list in [tx.newGroups, tx.newArrays, tx.deletedGroups, tx.deletedArrays, tx.updatedArrays, tx.updatedGroups]
        where !isSorted(list, by: <) {
            throw IcechunkError.corrupt("a transaction log's node id list is not sorted")
        }
        let uv = try t.requiredVector(7, elementSize: 4, "updated_chunks")
        for i in 0..<uv.count {
            let a = try uv.table(i)
            let node = try id8(a.requiredStruct(0, size: 8, "node id"))
            let cv = try a.requiredVector(1, elementSize: 4, "chunks")
            let coords = try (0..<cv.count).map { try readU32s(cv.table($0).requiredVector(0, elementSize: 4, "coords")) }
            tx.updatedChunks.append((node, coords))
        }
        return tx
    }

    // MARK: repo

    static func encodeRepo(_ repo: RepoInfo) throws -> [UInt8] {
        var b = B(capacity: 4096 + repo.snapshots.count * 128 + repo.latestUpdates.count * 96)
        let snapshots = repo.snapshots.sorted { $0.id < $1.id }
        var index: [ObjectId12: Int] = [:]
        for (i, s) in snapshots.enumerated() { index[s.id] = i }
        func refs(_ map: [String: ObjectId12]) throws -> B.Offset {
            let names = map.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            let tables = try names.map { name -> B.Offset in
                guard let i = index[map[name]!] else { throw IcechunkError.invalid("ref \(name) names a snapshot the repo does not list") }
                let s = b.createString(name)
                b.startTable()
                b.add(0, offset: s)
                b.add(1, UInt32(i))
                return b.endTable()
            }
            return b.createVector(offsets: tables)
        }
        let tags = try refs(repo.tags)
        let branches = try refs(repo.branches)
        let deleted = b.createVector(offsets: repo.deletedTags.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { b.createString($0) })
        let infos = try snapshots.map { s -> B.Offset in
            let parent: Int32
            if let p = s.parent {
                guard let i = index[p] else { throw IcechunkError.invalid("snapshot \(s.id) has parent \(p) that the repo does not list") }
                parent = Int32(i)
            } else {
                parent = -1
            }
            let message = b.createString(s.message)
            let metadata = writeMetadata(&b, s.metadata)
            let pruned = s.prunedAncestorTxLogs.map { b.createVector(structs: $0.map(\.bytes), elementSize: 12, alignment: 1) }
            b.startTable()
            b.add(0, structBytes: s.id.bytes, alignment: 1)
            b.add(1, parent)
            b.add(2, s.flushedAt)
            b.add(3, offset: message)
            b.add(4, offset: metadata)
            b.add(5, offset: pruned)
            return b.endTable()
        }
        let snapshotVector = b.createVector(offsets: infos)
        let status = writeStatus(&b, repo.status)
        let metadata = repo.metadata.map { writeMetadata(&b, $0) }
        let updates = repo.latestUpdates.map { writeUpdate(&b, $0) }
        let updateVector = b.createVector(offsets: updates)
        let before = repo.repoBeforeUpdates.map { b.createString($0) }
        let config = repo.config.map { b.createVector(bytes: $0) }
        let enabled = repo.enabledFeatureFlags.map { b.createVector($0) }
        let disabled = repo.disabledFeatureFlags.map { b.createVector($0) }
        let extra = repo.extra.map { b.createVector(bytes: $0) }
        b.startTable()
        b.add(0, repo.specVersion)
        b.add(1, offset: tags)
        b.add(2, offset: branches)
        b.add(3, offset: deleted)
        b.add(4, offset: snapshotVector)
        b.add(5, offset: status)
        b.add(6, offset: metadata)
        b.add(7, offset: updateVector)
        b.add(8, offset: before)
        b.add(9, offset: config)
        b.add(10, offset: enabled)
        b.add(11, offset: disabled)
        b.add(12, offset: extra)
        let root = b.endTable()
        return b.finish(root: root, identifier: ObjectFile.identifier)
    }

    static func writeStatus(_ b: inout B, _ s: RepoStatus) -> B.Offset {
        let reason = s.reason.map { b.createString($0) }
        b.startTable()
        b.add(0, s.availability)
        b.add(1, s.setAt)
        b.add(2, offset: reason)
        return b.endTable()
    }

    static func writeUpdate(_ b: inout B, _ u: Update) -> B.Offset {
        func table(_ body: (inout B) -> Void) -> B.Offset {
            b.startTable()
            body(&b)
            return b.endTable()
        }
        let type: UInt8
        let value: B.Offset
        switch u.kind {
        case .repoInitialized: type = 1; value = table { _ in }
        case let .repoMigrated(from, to): type = 2; value = table { $0.add(0, from); $0.add(1, to) }
        case .configChanged: type = 3; value = table { _ in }
        case .metadataChanged: type = 4; value = table { _ in }
        case let .tagCreated(name):
            type = 5; let s = b.createString(name); value = table { $0.add(0, offset: s) }
        case let .tagDeleted(name, previous):
            type = 6; let s = b.createString(name)
            value = table { $0.add(0, offset: s); $0.add(1, structBytes: previous.bytes, alignment: 1) }
        case let .branchCreated(name):
            type = 7; let s = b.createString(name); value = table { $0.add(0, offset: s) }
        case let .branchDeleted(name, previous):
            type = 8; let s = b.createString(name)
            value = table { $0.add(0, offset: s); $0.add(1, structBytes: previous.bytes, alignment: 1) }
        case let .branchReset(name, previous):
            type = 9; let s = b.createString(name)
            value = table { $0.add(0, offset: s); $0.add(1, structBytes: previous.bytes, alignment: 1) }
        case let .newCommit(branch, snapshot):
            type = 10; let s = b.createString(branch)
            value = table { $0.add(0, offset: s); $0.add(1, structBytes: snapshot.bytes, alignment: 1) }
        case let .commitAmended(branch, previous, snapshot):
            type = 11; let s = b.createString(branch)
            value = table {
                $0.add(0, offset: s)
                $0.add(1, structBytes: previous.bytes, alignment: 1)
                $0.add(2, structBytes: snapshot.bytes, alignment: 1)
            }
        case let .newDetachedSnapshot(snapshot):
            type = 12; value = table { $0.add(0, structBytes: snapshot.bytes, alignment: 1) }
        case .gcRan: type = 13; value = table { _ in }
        case .expirationRan: type = 14; value = table { _ in }
        case let .featureFlagChanged(id, newValue, isSet):
            type = 15
            value = table { $0.add(0, id); $0.add(1, UInt8(newValue ? 1 : 0)); $0.add(2, UInt8(isSet ? 1 : 0)) }
        case let .repoStatusChanged(status):
            type = 16; let s = writeStatus(&b, status); value = table { $0.add(0, offset: s) }
        }
        let backup = u.backupPath.map { b.createString($0) }
        b.startTable()
        b.add(0, type)
        b.add(1, offset: value)
        b.add(2, u.updatedAt)
        b.add(3, offset: backup)
        return b.endTable()
    }

    static func decodeRepo(_ bytes: [UInt8]) throws -> RepoInfo {
        let r = R(bytes)
        let t = try r.root(identifier: ObjectFile.identifier)
        var repo = RepoInfo()
        repo.specVersion = try t.u8(0)
        let sv = try t.requiredVector(4, elementSize: 4, "snapshots")
        var ids: [ObjectId12] = []
        var parents: [Int32] = []
        for i in 0..<sv.count {
            let s = try sv.table(i)
            let id = try id12(s.requiredStruct(0, size: 12, "snapshot info id"))
            if let last = ids.last, !(last < id) { throw IcechunkError.corrupt("repo snapshots are not sorted by id") }
            ids.append(id)
            parents.append(try s.i32(1))
            let pruned = try s.vector(5, elementSize: 12).map { v in try (0..<v.count).map { try id12(v.element($0)) } }
            repo.snapshots.append(SnapshotInfo(id: id, parent: nil, flushedAt: try s.u64(2),
                                               message: try s.requiredString(3, "snapshot message"),
                                               metadata: try s.vector(4, elementSize: 4).map(readMetadata) ?? [],
                                               prunedAncestorTxLogs: pruned))
        }
        for i in repo.snapshots.indices where parents[i] >= 0 {
            guard Int(parents[i]) < ids.count else { throw IcechunkError.corrupt("snapshot parent index \(parents[i]) out of range") }
            repo.snapshots[i].parent = ids[Int(parents[i])]
        }
        func refs(_ slot: Int, _ what: String) throws -> [String: ObjectId12] {
            let v = try t.requiredVector(slot, elementSize: 4, what)
            var out: [String: ObjectId12] = [:]
            var previous: [UInt8]?
            for i in 0..<v.count {
                let ref = try v.table(i)
                let name = try ref.requiredString(0, "\(what) name")
                // Readers binary-search refs by name: they must be sorted, each name once.
                if let p = previous, !p.lexicographicallyPrecedes(Array(name.utf8)) { throw IcechunkError.corrupt("\(what) are not sorted by name") }
                previous = Array(name.utf8)
                let index = Int(try ref.u32(1))
                guard index < ids.count else { throw IcechunkError.corrupt("\(what) \(name) points outside the snapshot list") }
                out[name] = ids[index]
            }
            return out
        }
        repo.tags = try refs(1, "tags")
        repo.branches = try refs(2, "branches")
        let dv = try t.requiredVector(3, elementSize: 4, "deleted_tags")
        repo.deletedTags = try (0..<dv.count).map { try dv.string($0) }
        guard isSorted(repo.deletedTags.map { Array($0.utf8) }, by: { $0.lexicographicallyPrecedes($1) }) else {
            throw IcechunkError.corrupt("deleted_tags is not sorted")
        }
        repo.status = try readStatus(t.requiredTable(5, "status"))
        repo.metadata = try t.vector(6, elementSize: 4).map(readMetadata)
        let uv = try t.requiredVector(7, elementSize: 4, "latest_updates")
        repo.latestUpdates = try (0..<uv.count).map { try readUpdate(uv.table($0)) }
        repo.repoBeforeUpdates = try t.string(8)
        repo.config = try t.bytes(9)
        repo.enabledFeatureFlags = try t.vector(10, elementSize: 2).map { v in try (0..<v.count).map { try v.u16($0) } }
        repo.disabledFeatureFlags = try t.vector(11, elementSize: 2).map { v in try (0..<v.count).map { try v.u16($0) } }
        repo.extra = try t.bytes(12)
        return repo
    }

    static func readStatus(_ t: R.Table) throws -> RepoStatus {
        RepoStatus(availability: try t.u8(0), setAt: try t.u64(1), reason: try t.string(2))
    }

    static func readUpdate(_ t: R.Table) throws -> Update {
        let v = try t.requiredTable(1, "update type")
        func name(_ slot: Int = 0) throws -> String { try v.requiredString(slot, "update name") }
        func id(_ slot: Int) throws -> ObjectId12 { try id12(v.requiredStruct(slot, size: 12, "update snapshot id")) }
        let kind: UpdateKind
        switch try t.u8(0) {
        case 1: kind = .repoInitialized
        case 2: kind = .repoMigrated(from: try v.u8(0), to: try v.u8(1))
        case 3: kind = .configChanged
        case 4: kind = .metadataChanged
        case 5: kind = .tagCreated(name: try name())
        case 6: kind = .tagDeleted(name: try name(), previous: try id(1))
        case 7: kind = .branchCreated(name: try name())
        case 8: kind = .branchDeleted(name: try name(), previous: try id(1))
        case 9: kind = .branchReset(name: try name(), previous: try id(1))
        case 10: kind = .newCommit(branch: try name(), snapshot: try id(1))
        case 11: kind = .commitAmended(branch: try name(), previous: try id(1), snapshot: try id(2))
        case 12: kind = .newDetachedSnapshot(snapshot: try id(0))
        case 13: kind = .gcRan
        case 14: kind = .expirationRan
        case 15: kind = .featureFlagChanged(id: try v.u16(0), newValue: try v.u8(1) != 0, isSet: try v.u8(2) != 0)
        case 16: kind = .repoStatusChanged(try readStatus(v.requiredTable(0, "status")))
        case let other: throw IcechunkError.corrupt("update type \(other) unknown")
        }
        return Update(kind: kind, updatedAt: try t.u64(2), backupPath: try t.string(3))
    }
}
