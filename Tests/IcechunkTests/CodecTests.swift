import Foundation
import Testing
@testable import Icechunk

/// Sample objects with every kind of field filled, shared by the round-trip and hostile-bytes tests.
enum Samples {
    static let array = Node(id: NodeId(value: 0x0102_0304_0506_0708), path: "/red", userData: Array(#"{"zarr_format":3}"#.utf8),
                            kind: .array(shape: [DimensionShape(arrayLength: 10, numChunks: 3), DimensionShape(arrayLength: 0, numChunks: 0)],
                                         dimensionNames: ["time", nil],
                                         manifests: [ManifestRef(id: ObjectId12(high: 1, low: 2), extent: Extent(from: [0, 0], to: [3, 1]))]))
    static let snapshot = Snapshot(
        id: ObjectId12(high: 42, low: 7),
        nodes: [Node(id: NodeId(value: 9), path: "/", userData: Array("{}".utf8), kind: .group), array,
                Node(id: NodeId(value: 10), path: "/red-b", userData: [], kind: .array(shape: [], dimensionNames: nil, manifests: []))],
        flushedAt: 1_796_651_762_207_847, message: "a commit é", metadata: MetadataItem.sorted(["k": .uint(1), "a": .string("v")]),
        manifestFiles: [ManifestFileInfo(id: ObjectId12(high: 1, low: 2), sizeBytes: 226, numChunkRefs: 4)])

    static let manifest = Manifest(id: ObjectId12(high: 3, low: 4), arrays: [
        ArrayManifest(nodeId: NodeId(value: 1), refs: [
            ChunkRef(coords: [0, 0], payload: .native(id: ObjectId12(high: 5, low: 6), offset: 0, length: 100)),
            ChunkRef(coords: [0, 1], payload: .inline([1, 2, 3])),
            ChunkRef(coords: [2, 0], payload: .native(id: ObjectId12(high: 5, low: 6), offset: 100, length: 1 << 33)),
        ]),
        ArrayManifest(nodeId: NodeId(value: 2), refs: [
            ChunkRef(coords: [7], payload: .virtual(location: "s3://b/k.nc", offset: 10, length: 20, etag: "abc", lastModified: 5)),
        ]),
    ])

    static var transactionLog: TransactionLog {
        var tx = TransactionLog(id: ObjectId12(high: 42, low: 7))
        tx.newGroups = [NodeId(value: 9)]
        tx.newArrays = [NodeId(value: 1), NodeId(value: 2)]
        tx.updatedArrays = [NodeId(value: 3)]
        tx.updatedChunks = [(NodeId(value: 1), [[0, 0], [0, 1]]), (NodeId(value: 2), [[7]])]
        return tx
    }

    static var repo: RepoInfo {
        let a = ObjectId12(high: 1, low: 1), b = ObjectId12(high: 2, low: 2), c = ObjectId12(high: 0, low: 9)
        var r = RepoInfo()
        r.snapshots = [
            SnapshotInfo(id: c, parent: b, flushedAt: 3, message: "third", metadata: [], prunedAncestorTxLogs: nil),
            SnapshotInfo(id: a, parent: nil, flushedAt: 1, message: "init", metadata: MetadataItem.sorted(["x": .bool(true)]),
                         prunedAncestorTxLogs: [ObjectId12(high: 8, low: 8)]),
            SnapshotInfo(id: b, parent: a, flushedAt: 2, message: "second", metadata: [], prunedAncestorTxLogs: nil),
        ]
        r.snapshots.sort { $0.id < $1.id }
        r.branches = ["main": c, "dev": a]
        r.tags = ["v1": b]
        r.deletedTags = ["old"]
        r.status = RepoStatus(availability: 0, setAt: 77, reason: nil)
        r.metadata = MetadataItem.sorted(["owner": .string("cube")])
        r.latestUpdates = [
            Update(kind: .newCommit(branch: "main", snapshot: c), updatedAt: 30, backupPath: nil),
            Update(kind: .tagCreated(name: "v1"), updatedAt: 20, backupPath: "repo.1.X"),
            Update(kind: .commitAmended(branch: "dev", previous: a, snapshot: b), updatedAt: 19, backupPath: "repo.2.X"),
            Update(kind: .featureFlagChanged(id: 3, newValue: true, isSet: true), updatedAt: 18, backupPath: nil),
            Update(kind: .repoStatusChanged(RepoStatus(availability: 1, setAt: 5, reason: "maintenance")), updatedAt: 17, backupPath: nil),
            Update(kind: .branchDeleted(name: "x", previous: a), updatedAt: 16, backupPath: nil),
            Update(kind: .repoMigrated(from: 1, to: 2), updatedAt: 15, backupPath: nil),
            Update(kind: .repoInitialized, updatedAt: 10, backupPath: "repo.3.X"),
        ]
        r.repoBeforeUpdates = "repo.9.Y"
        r.config = [1, 2, 3]
        r.enabledFeatureFlags = [1, 5]
        r.disabledFeatureFlags = []
        return r
    }
}

@Suite struct CodecTests {
    @Test func snapshotRoundTrip() throws {
        let bytes = Codec.encodeSnapshot(Samples.snapshot)
        #expect(Array(bytes[4..<8]) == Array("Ichk".utf8))
        #expect(try Codec.decodeSnapshot(bytes) == Samples.snapshot)
        #expect(Samples.snapshot.node(at: "/red")?.id == Samples.array.id)
        #expect(Samples.snapshot.node(at: "/blue") == nil)
    }

    @Test func manifestRoundTrip() throws {
        #expect(try Codec.decodeManifest(Codec.encodeManifest(Samples.manifest)) == Samples.manifest)
    }

    @Test func transactionLogRoundTrip() throws {
        #expect(try Codec.decodeTransactionLog(Codec.encodeTransactionLog(Samples.transactionLog)) == Samples.transactionLog)
    }

    @Test func repoRoundTripKeepsEveryField() throws {
        let decoded = try Codec.decodeRepo(Codec.encodeRepo(Samples.repo))
        #expect(decoded == Samples.repo)
        #expect(decoded.snapshot(ObjectId12(high: 0, low: 9))?.parent == ObjectId12(high: 2, low: 2))
    }

    @Test func repoRefusesRefsToUnlistedSnapshots() {
        var r = Samples.repo
        r.branches["ghost"] = ObjectId12(high: 99, low: 99)
        #expect(throws: IcechunkError.self) { try Codec.encodeRepo(r) }
    }

    @Test func unsortedInputIsCorrupt() throws {
        var s = Samples.snapshot
        s.nodes.swapAt(0, 1)
        #expect(throws: IcechunkError.self) { try Codec.decodeSnapshot(Codec.encodeSnapshot(s)) }
        var m = Samples.manifest
        m.arrays[0].refs.swapAt(0, 2)
        #expect(throws: IcechunkError.self) { try Codec.decodeManifest(Codec.encodeManifest(m)) }
    }

    @Test func envelopeChecksHeaderAndFrame() throws {
        let fb = Codec.encodeManifest(Samples.manifest)
        let file = try ObjectFile.encode(.manifest, flatbuffer: fb)
        #expect(Array(file.prefix(12)) == ObjectFile.magic)
        #expect(String(decoding: file[12..<36], as: UTF8.self) == "cube-0.1" + String(repeating: " ", count: 16))
        #expect(Array(file[36..<39]) == [2, 2, 1])
        #expect(try ObjectFile.decode(file, expect: .manifest).flatbuffer == fb)
        #expect(throws: IcechunkError.self) { try ObjectFile.decode(file, expect: .snapshot) }
        var badMagic = file
        badMagic[0] = 0
        #expect(throws: IcechunkError.self) { try ObjectFile.decode(badMagic, expect: .manifest) }
        #expect(throws: IcechunkError.self) { try ObjectFile.decode(file.dropLast(3), expect: .manifest) }
        #expect(throws: IcechunkError.self) { try ObjectFile.decode(file + Data([1, 2, 3]), expect: .manifest) }
        #expect(throws: IcechunkError.self) { try ObjectFile.decode(file.prefix(20), expect: .manifest) }
    }

    @Test func decompressionIsCapped() throws {
        let big = [UInt8](repeating: 7, count: 5_000_000)
        let frame = [UInt8](try ObjectFile.compress(big, level: 1))
        #expect(frame.count < 10_000)
        #expect(try ObjectFile.decompress(frame) == big)
        #expect(throws: IcechunkError.self) { try ObjectFile.decompress(frame, limit: 1_000_000) }
    }

    /// Mutated and truncated objects of every kind: decoding throws or returns, never traps.
    @Test func hostileBytesNeverTrap() throws {
        let seeds: [(String, [UInt8])] = [
            ("snapshot", Codec.encodeSnapshot(Samples.snapshot)), ("manifest", Codec.encodeManifest(Samples.manifest)),
            ("tx", Codec.encodeTransactionLog(Samples.transactionLog)), ("repo", try Codec.encodeRepo(Samples.repo)),
        ]
        var rng = SystemRandomNumberGenerator()
        var thrown = 0
        for (kind, seed) in seeds {
            for round in 0..<4000 {
                var b = seed
                if round % 3 == 0 {
                    b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
                } else {
                    for _ in 0..<Int.random(in: 1...6, using: &rng) {
                        let at = Int.random(in: 0..<b.count, using: &rng)
                        // Offsets and lengths are the interesting targets: extreme values often.
                        b[at] = [0, 0xFF, 0x7F, 0x80, UInt8.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
                    }
                }
                do {
                    switch kind {
                    case "snapshot": _ = try Codec.decodeSnapshot(b)
                    case "manifest": _ = try Codec.decodeManifest(b)
                    case "tx": _ = try Codec.decodeTransactionLog(b)
                    default: _ = try Codec.decodeRepo(b)
                    }
                } catch is IcechunkError {
                    thrown += 1
                }
            }
        }
        #expect(thrown > 1000)  // most mutations are caught (the rest hit bytes that may be anything)
        for size in [0, 3, 8, 64, 1000] {
            let noise = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(throws: IcechunkError.self) { try Codec.decodeRepo(noise) }
        }
    }
}
