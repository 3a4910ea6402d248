// Test-only driver of the Icechunk module for the end-to-end tests (Tests/python/icechunk):
// writes and reads repositories the way a cube coordinator would, with chunks encoded by the
// project's own Zarr codec pipeline, and prints JSON for the test to compare with
// icechunk-python. Not part of the `cube` product.
//
//   IcechunkFixture LOCATION create
//   IcechunkFixture LOCATION commit < plan.json      → {"snapshot": ..., "parent": ...}
//   IcechunkFixture LOCATION read (branch NAME | snapshot ID)   → nodes and decoded arrays
//   IcechunkFixture LOCATION ancestry BRANCH         → [{"id", "parent", "message", "time"}]
//   IcechunkFixture LOCATION tag NAME SNAPSHOT
//   IcechunkFixture LOCATION inspect SNAPSHOT        → manifests with extents, sizes, counts
//   IcechunkFixture LOCATION bench ARRAYS BINS SIDE  → commit timings and peak memory (below)
//
// A plan: {"branch": "main", "parent": null (the tip) or an id, "message": "...",
//   "metadata": {...}, "delete": ["/path", ...], "groups": {"/": {attributes}}, "arrays": [{"path": "/red",
//   "shape": [..], "chunks": [..], "inner_chunks": [..]?, "compression": "blosc"|"zstd"|"none",
//   "dimension_names": [..]?, "base": 7, "write": [[chunk coords], ...] or "all",
//   "inline_below": 0}]}. Element i (C order over the whole array) of an array is
//   (base + i) mod 65536 as uint16; only the listed chunks are written.
import CubeCore
import CubeStore
import Foundation
import Icechunk
import JSON
import Zarr

struct Failure: Error, CustomStringConvertible { let description: String }

func conditionalStore(_ location: String) throws -> any ConditionalStore {
    guard let store = try openStore(location) as? any ConditionalStore else {
        throw Failure(description: "\(location) does not support conditional writes")
    }
    return store
}

func output(_ value: JSONValue) {
    FileHandle.standardOutput.write(value.data(pretty: false))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

func json(_ value: MetadataValue) -> JSONValue {
    switch value {
    case .null: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .uint(let u): return u <= UInt64(Int64.max) ? .int(Int64(u)) : .double(Double(u))
    case .double(let d): return .double(d)
    case .string(let s): return .string(s)
    case .array(let a): return .array(a.map(json))
    case .object(let o): return .object(o.mapValues(json))
    }
}

func metadataValue(_ value: JSONValue) -> MetadataValue {
    switch value {
    case .null: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .double(let d): return .double(d)
    case .string(let s): return .string(s)
    case .array(let a): return .array(a.map(metadataValue))
    case .object(let o): return .object(o.mapValues(metadataValue))
    }
}

func compression(_ name: String?) throws -> Compression {
    switch name ?? "blosc" {
    case "blosc": return .bloscZstd(level: 5)
    case "zstd": return .zstd(level: 3)
    case "none": return .none
    case let other: throw Failure(description: "compression \(other)")
    }
}

/// Values of one chunk of the array (edge chunks full size, outside values the fill value 0).
func chunkValues(metadata: ArrayMetadata, coords: [Int], base: Int) -> [UInt16] {
    let rank = metadata.shape.count
    let count = metadata.chunks.reduce(1, *)
    var out = [UInt16](repeating: 0, count: count)
    var local = [Int](repeating: 0, count: rank)
    for n in 0..<count {
        var rem = n
        for d in stride(from: rank - 1, through: 0, by: -1) { local[d] = rem % metadata.chunks[d]; rem /= metadata.chunks[d] }
        var flat = 0
        var inside = true
        for d in 0..<rank {
            let g = coords[d] * metadata.chunks[d] + local[d]
            if g >= metadata.shape[d] { inside = false }
            flat = flat * metadata.shape[d] + g
        }
        if inside { out[n] = UInt16(truncatingIfNeeded: base + flat) }
    }
    return out
}

func allChunks(_ metadata: ArrayMetadata) -> [[Int]] {
    let grid = zip(metadata.shape, metadata.chunks).map { ($0 + $1 - 1) / $1 }
    var out: [[Int]] = [[]]
    for n in grid { out = out.flatMap { prefix in (0..<n).map { prefix + [$0] } } }
    return grid.contains(0) ? [] : out
}

func commit(_ repo: IcechunkRepository, plan: JSONValue) throws -> JSONValue {
    let branch = plan["branch"]?.stringValue ?? "main"
    let parent = try plan["parent"]?.stringValue.map { text -> ObjectId12 in
        guard let id = ObjectId12(text) else { throw Failure(description: "bad id \(text)") }
        return id
    } ?? repo.tip(branch: branch)
    var nodes: [String: Data] = [:]
    for (path, attributes) in plan["groups"]?.objectValue ?? [:] {
        let doc: JSONValue = .object(["zarr_format": .int(3), "node_type": .string("group"),
                                      "attributes": attributes])
        nodes[path] = doc.data(pretty: true)
    }
    var chunks: [String: [ChunkRef]] = [:]
    for array in plan["arrays"]?.arrayValue ?? [] {
        guard let path = array["path"]?.stringValue,
              let shape = array["shape"]?.arrayValue?.compactMap(\.intValue),
              let chunkShape = array["chunks"]?.arrayValue?.compactMap(\.intValue) else {
            throw Failure(description: "an array needs path, shape and chunks")
        }
        let metadata = ArrayMetadata(shape: shape, chunks: chunkShape, dataType: .uint16, fillValue: .zero,
                                     dimensionNames: array["dimension_names"]?.arrayValue?.compactMap(\.stringValue),
                                     compression: try compression(array["compression"]?.stringValue),
                                     innerChunks: array["inner_chunks"]?.arrayValue?.compactMap(\.intValue))
        try metadata.validate()
        nodes[path] = metadata.v3Document().data(pretty: true)
        let base = array["base"]?.intValue ?? 0
        let inlineBelow = array["inline_below"]?.intValue ?? 0
        let targets: [[Int]]
        if array["write"] == .string("all") || array["write"] == nil {
            targets = allChunks(metadata)
        } else {
            targets = (array["write"]?.arrayValue ?? []).map { $0.arrayValue?.compactMap(\.intValue) ?? [] }
        }
        var refs: [ChunkRef] = []
        for coords in targets {
            let values = chunkValues(metadata: metadata, coords: coords, base: base)
            let bytes = try values.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
            // Small chunks inline in the manifest (icechunk does so below 512 bytes).
            let payload = bytes.count < inlineBelow ? .inline([UInt8](bytes)) : try repo.writeChunk(bytes)
            refs.append(ChunkRef(coords: coords.map(UInt32.init), payload: payload))
        }
        chunks[path] = refs
    }
    let metadata = (plan["metadata"]?.objectValue ?? [:]).mapValues(metadataValue)
    let deleting = (plan["delete"]?.arrayValue ?? []).compactMap(\.stringValue)
    let id = try repo.commit(branch: branch, parent: parent, deleting: deleting, nodes: nodes, chunks: chunks,
                             message: plan["message"]?.stringValue ?? "", metadata: metadata)
    return .object(["snapshot": .string(id.description), "parent": .string(parent.description)])
}

/// Every node's zarr.json and every array's values (C order, uint16 arrays only), decoded with
/// the project's Zarr codecs from the refs of the snapshot's manifests.
func read(_ repo: IcechunkRepository, snapshot id: ObjectId12) throws -> JSONValue {
    let snapshot = try repo.snapshot(id)
    var nodes: [String: JSONValue] = [:]
    var arrays: [String: JSONValue] = [:]
    for node in snapshot.nodes {
        let doc = try JSONValue.parse(Data(node.userData))
        nodes[node.path] = doc
        guard node.isArray, let metadata = try? ArrayMetadata(v3: doc), metadata.dataType == .uint16 else { continue }
        let total = metadata.shape.reduce(1, *)
        var values = [Int64](repeating: Int64(-1), count: total)  // -1: no chunk (fill value)
        for ref in try repo.chunkRefs(snapshot: snapshot, path: node.path) {
            guard let bytes = try repo.readChunk(ref.payload) else { throw Failure(description: "chunk \(ref.coords) missing") }
            let decoded = try ChunkCodec.decode(bytes, metadata: metadata, as: UInt16.self)
            let rank = metadata.shape.count
            var local = [Int](repeating: 0, count: rank)
            for n in 0..<decoded.count {
                var rem = n
                for d in stride(from: rank - 1, through: 0, by: -1) { local[d] = rem % metadata.chunks[d]; rem /= metadata.chunks[d] }
                var flat = 0
                var inside = true
                for d in 0..<rank {
                    let g = Int(ref.coords[d]) * metadata.chunks[d] + local[d]
                    if g >= metadata.shape[d] { inside = false }
                    flat = flat * metadata.shape[d] + g
                }
                if inside { values[flat] = Int64(decoded[n]) }
            }
        }
        arrays[node.path] = .array(values.map { .int($0) })
    }
    return .object(["id": .string(snapshot.id.description), "message": .string(snapshot.message),
                    "nodes": .object(nodes), "arrays": .object(arrays),
                    "metadata": .object(Dictionary(uniqueKeysWithValues: try snapshot.metadata.map { ($0.name, json(try $0.value())) }))])
}

func inspect(_ repo: IcechunkRepository, snapshot id: ObjectId12) throws -> JSONValue {
    let snapshot = try repo.snapshot(id)
    var arrays: [String: JSONValue] = [:]
    for node in snapshot.nodes where node.isArray {
        arrays[node.path] = .array(node.manifests.map { m in
            .object(["id": .string(m.id.description),
                     "from": .array(m.extent.from.map { .int(Int64($0)) }), "to": .array(m.extent.to.map { .int(Int64($0)) })])
        })
    }
    let files: [JSONValue] = snapshot.manifestFiles.map {
        .object(["id": .string($0.id.description), "size_bytes": .int(Int64($0.sizeBytes)), "num_chunk_refs": .int(Int64($0.numChunkRefs))])
    }
    return .object(["arrays": .object(arrays), "manifest_files": .array(files)])
}

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // KiB on Linux
}

/// The commit benchmark (scripts/bench/run icechunk): ARRAYS arrays of BINS time bins of
/// SIDE × SIDE chunks, committed as a coordinator would (refs to chunk objects workers wrote;
/// the chunk objects themselves are not written, only what the commit writes is measured):
/// the whole cube in one commit, then one more time bin appended, then 100 chunks rewritten.
func bench(_ store: any ConditionalStore, location: String, arrays: Int, bins: Int, side: Int) throws -> JSONValue {
    let repo = try IcechunkRepository.create(storage: store)
    let names = ["red", "green", "blue", "nir", "swir16", "swir22", "qa", "count"].prefix(arrays)
    func json(bins: Int) -> Data {
        ArrayMetadata(shape: [bins, side * 256, side * 256], chunks: [1, 256, 256], dataType: .uint16,
                      dimensionNames: ["time", "y", "x"]).v3Document().data(pretty: true)
    }
    func refs(bins: Range<Int>, limit: Int = .max) -> [ChunkRef] {
        var out: [ChunkRef] = []
        out.reserveCapacity(min(limit, bins.count * side * side))
        var rng = SystemRandomNumberGenerator()
        for t in bins { for y in 0..<side { for x in 0..<side where out.count < limit {
            out.append(ChunkRef(coords: [UInt32(t), UInt32(y), UInt32(x)],
                                payload: .native(id: ObjectId12.random(), offset: 0, length: UInt64.random(in: 100_000...400_000, using: &rng))))
        } } }
        return out
    }
    var phases: [JSONValue] = []
    func phase(_ name: String, _ body: () throws -> ObjectId12, refs count: Int) throws -> ObjectId12 {
        let before = Set(try store.list(prefix: "manifests"))
        let start = Date()
        let id = try body()
        let seconds = Date().timeIntervalSince(start)
        let after = try store.list(prefix: "manifests")
        let new = after.filter { !before.contains($0) }
        let bytes = try new.reduce(0) { $0 + (try store.get($1)?.count ?? 0) }
        let snapshotBytes = try store.get("snapshots/\(id)")?.count ?? 0
        phases.append(.object(["phase": .string(name), "chunk_refs": .int(Int64(count)), "seconds": .double(seconds),
                               "manifests_written": .int(Int64(new.count)), "manifest_bytes": .int(Int64(bytes)),
                               "manifests_total": .int(Int64(after.count)), "snapshot_bytes": .int(Int64(snapshotBytes)),
                               "peak_rss_mib": .double(peakRSSMiB())]))
        return id
    }
    var all: [String: [ChunkRef]] = [:]
    for n in names { all["/\(n)"] = refs(bins: 0..<bins) }
    let total = all.values.reduce(0) { $0 + $1.count }
    var nodes: [String: Data] = ["/": Data(#"{"zarr_format":3,"node_type":"group","attributes":{}}"#.utf8)]
    for n in names { nodes["/\(n)"] = json(bins: bins) }
    let first = try phase("whole cube", {
        try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: nodes, chunks: all, message: "whole cube")
    }, refs: total)
    all = [:]
    var appended: [String: [ChunkRef]] = [:]
    var grown: [String: Data] = [:]
    for n in names { appended["/\(n)"] = refs(bins: bins..<(bins + 1)); grown["/\(n)"] = json(bins: bins + 1) }
    let second = try phase("one more time bin", {
        try repo.commit(branch: "main", parent: first, nodes: grown, chunks: appended, message: "append")
    }, refs: appended.values.reduce(0) { $0 + $1.count })
    let few = ["/\(names.first!)": refs(bins: (bins / 2)..<(bins / 2 + 1), limit: 100)]
    _ = try phase("100 chunks rewritten", {
        try repo.commit(branch: "main", parent: second, chunks: few, message: "fix")
    }, refs: 100)

    // The cube's own path (IcechunkStore): one more bin staged as workers stage it, one staged
    // file per job of `arrays` chunks (8-byte chunks, inline, so no chunk objects are timed),
    // then the coordinator's commit of everything staged (reading every staged file).
    let staged = try IcechunkStore.open("icechunk:\(location)", access: .write)
    for n in names { try staged.put("\(n)/zarr.json", json(bins: bins + 2)) }
    let stagingStart = Date()
    let jobSide = max(1, side / 2)
    for y in 0..<jobSide { for x in 0..<jobSide {
        for n in names { try staged.put("\(n)/c/\(bins + 1)/\(y)/\(x)", Data(repeating: UInt8(truncatingIfNeeded: x), count: 8)) }
        try staged.put(StoreKeys.donePrefix + "/\(y).\(x).json", Data("{}".utf8))   // the done record stages the job's chunks
    } }
    let stagingSeconds = Date().timeIntervalSince(stagingStart)
    let coordinator = try IcechunkStore.open("icechunk:\(location)", access: .write)
    let stagedRefs = jobSide * jobSide * names.count
    _ = try phase("staged bin, committed", {
        guard let id = try coordinator.commitStaged(message: "staged bin", metadata: [:]) else {
            throw Failure(description: "the staged bin made no commit")
        }
        return id
    }, refs: stagedRefs)
    phases[phases.count - 1] = {
        guard case var .object(o) = phases[phases.count - 1] else { return phases[phases.count - 1] }
        o["staged_files"] = .int(Int64(jobSide * jobSide))
        o["staging_seconds"] = .double(stagingSeconds)
        return .object(o)
    }()
    return .object(["arrays": .int(Int64(arrays)), "bins": .int(Int64(bins)), "side": .int(Int64(side)),
                    "phases": .array(phases)])
}

func id(_ text: String) throws -> ObjectId12 {
    guard let id = ObjectId12(text) else { throw Failure(description: "bad id \(text)") }
    return id
}

let args = CommandLine.arguments
do {
    guard args.count >= 3 else { throw Failure(description: "usage: IcechunkFixture LOCATION COMMAND ...") }
    let store = try conditionalStore(args[1])
    switch args[2] {
    case "create":
        _ = try IcechunkRepository.create(storage: store)
        output(.object(["created": .bool(true)]))
    case "commit":
        let repo = try IcechunkRepository.open(storage: store)
        let plan = try JSONValue.parse(FileHandle.standardInput.readDataToEndOfFile())
        output(try commit(repo, plan: plan))
    case "read" where args.count == 5:
        let repo = try IcechunkRepository.open(storage: store)
        let snapshot = args[3] == "branch" ? try repo.tip(branch: args[4]) : try id(args[4])
        output(try read(repo, snapshot: snapshot))
    case "ancestry" where args.count == 4:
        let repo = try IcechunkRepository.open(storage: store)
        output(.array(try repo.ancestry(branch: args[3]).map { c in
            .object(["id": .string(c.id.description), "parent": c.parent.map { .string($0.description) } ?? .null,
                     "message": .string(c.message), "time": .double(c.time.timeIntervalSince1970)])
        }))
    case "tag" where args.count == 5:
        let repo = try IcechunkRepository.open(storage: store)
        try repo.tag(args[3], snapshot: try id(args[4]))
        output(.object(["tagged": .string(args[3])]))
    case "bench" where args.count == 6:
        guard let arrays = Int(args[3]), let bins = Int(args[4]), let side = Int(args[5]), (1...8).contains(arrays) else {
            throw Failure(description: "bench ARRAYS(1-8) BINS SIDE")
        }
        output(try bench(store, location: args[1], arrays: arrays, bins: bins, side: side))
    case "inspect" where args.count == 4:
        output(try inspect(try IcechunkRepository.open(storage: store), snapshot: try id(args[3])))
    default:
        throw Failure(description: "unknown command \(args.dropFirst(2).joined(separator: " "))")
    }
} catch {
    FileHandle.standardError.write(Data("IcechunkFixture: \(error)\n".utf8))
    exit(error is IcechunkError ? 3 : 1)
}
