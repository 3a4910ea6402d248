import CubeStore
import Foundation
import Testing
@testable import Icechunk

struct Folder {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("icechunk-test-\(UUID().uuidString)").path
    var store: LocalStore { LocalStore(root: path, durable: false) }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

func groupJSON(_ title: String = "t") -> Data { Data(#"{"zarr_format":3,"node_type":"group","attributes":{"title":"\#(title)"}}"#.utf8) }

func arrayJSON(shape: [Int], chunks: [Int], names: [String]) -> Data {
    let n = names.map { "\"\($0)\"" }.joined(separator: ",")
    return Data("""
    {"zarr_format":3,"node_type":"array","shape":\(shape),"data_type":"uint16",
     "chunk_grid":{"name":"regular","configuration":{"chunk_shape":\(chunks)}},
     "chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},"fill_value":0,
     "codecs":[{"name":"bytes","configuration":{"endian":"little"}}],"dimension_names":[\(n)]}
    """.utf8)
}

/// A store that lets `interloper` run once, just before the first conditional replace of `repo`:
/// another writer getting in between our read and our write.
final class RacingStore: ConditionalStore, @unchecked Sendable {
    let inner: LocalStore
    var interloper: (() throws -> Void)?
    init(_ inner: LocalStore) { self.inner = inner }
    var description: String { "racing \(inner)" }
    func get(_ key: String) throws -> Data? { try inner.get(key) }
    func put(_ key: String, _ data: Data) throws { try inner.put(key, data) }
    func createIfAbsent(_ key: String, _ data: Data) throws -> Bool { try inner.createIfAbsent(key, data) }
    func exists(_ key: String) throws -> Bool { try inner.exists(key) }
    func list(prefix: String) throws -> [String] { try inner.list(prefix: prefix) }
    func delete(_ key: String) throws { try inner.delete(key) }
    func getVersioned(_ key: String) throws -> (data: Data, version: String)? { try inner.getVersioned(key) }
    func replace(_ key: String, _ data: Data, ifMatch version: String) throws -> String? {
        if key == "repo", let run = interloper {
            interloper = nil
            try run()
        }
        return try inner.replace(key, data, ifMatch: version)
    }
}

@Suite struct RepositoryTests {
    @Test func createsTheInitialSnapshotAsIcechunkDoes() throws {
        let folder = Folder()
        defer { folder.remove() }
        let repo = try IcechunkRepository.create(storage: folder.store)
        #expect(try repo.tip(branch: "main") == IcechunkRepository.initialSnapshotId)
        let initial = try repo.snapshot(IcechunkRepository.initialSnapshotId)
        #expect(initial.nodes.isEmpty && initial.manifestFiles.isEmpty && initial.message == "Repository initialized")
        // The `__icechunk` item, byte for byte as icechunk-python 2.3.0 writes it.
        #expect(initial.metadata == [MetadataItem(name: "__icechunk", encoded: [105, 115, 95, 114, 111, 111, 116, 0, 1, 9, 1, 1, 1, 1, 104, 2, 36, 1])])
        #expect(try repo.transactionLog(IcechunkRepository.initialSnapshotId) == TransactionLog(id: IcechunkRepository.initialSnapshotId))
        let info = try repo.info()
        #expect(info.latestUpdates.map(\.kind) == [.repoInitialized] && info.latestUpdates[0].backupPath == nil)
        #expect(info.metadata == [] && info.config == nil && info.specVersion == 2)
        #expect(throws: IcechunkError.self) { try IcechunkRepository.create(storage: folder.store) }
        let empty = Folder()
        #expect(throws: IcechunkError.self) { try IcechunkRepository.open(storage: empty.store) }
    }

    @Test func commitsReadBackAndReuseUntouchedManifests() throws {
        let folder = Folder()
        defer { folder.remove() }
        let repo = try IcechunkRepository.create(storage: folder.store,
                                                 splitting: ManifestSplitting(chunksPerManifest: ["time": 1], otherwise: 2))
        let red = arrayJSON(shape: [3, 8, 8], chunks: [1, 2, 2], names: ["time", "y", "x"])
        var refs: [ChunkRef] = []
        for t in 0..<3 { for y in 0..<4 { for x in 0..<4 {
            let payload = try repo.writeChunk(Data("chunk \(t) \(y) \(x)".utf8))
            refs.append(ChunkRef(coords: [UInt32(t), UInt32(y), UInt32(x)], payload: payload))
        } } }
        let first = try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId,
                                    nodes: ["/": groupJSON(), "red": red], chunks: ["/red": refs.shuffled()],
                                    message: "first", metadata: ["bins": .uint(3)])
        let s1 = try repo.snapshot(first)
        #expect(s1.nodes.map(\.path) == ["/", "/red"])
        guard case let .array(shape, names, manifests) = s1.node(at: "/red")!.kind else { Issue.record("not an array"); return }
        #expect(shape.map(\.numChunks) == [3, 4, 4] && names == ["time", "y", "x"])
        #expect(manifests.count == 12)  // 3 time bins × 2 × 2 blocks of 2 × 2 chunks
        #expect(s1.manifestFiles.map(\.id) == manifests.map(\.id).sorted())
        for f in s1.manifestFiles { #expect(f.sizeBytes == UInt64(try folder.store.get("manifests/\(f.id)")!.count) && f.numChunkRefs == 4) }
        let back = try repo.chunkRefs(snapshot: s1, path: "/red")
        #expect(back.map(\.coords) == refs.map(\.coords))
        #expect(try repo.readChunk(back[5].payload) == Data("chunk 0 1 1".utf8))
        let tx1 = try repo.transactionLog(first)
        #expect(tx1.newGroups.count == 1 && tx1.newArrays.count == 1 && tx1.updatedChunks[0].1.count == 48)

        // Rewrite one chunk: one manifest is new, eleven are the first commit's.
        let new = ChunkRef(coords: [1, 3, 0], payload: .inline(Array("new".utf8)))
        let second = try repo.commit(branch: "main", parent: first, chunks: ["/red": [new]], message: "one chunk")
        let s2 = try repo.snapshot(second)
        let m2 = s2.node(at: "/red")!.manifests
        #expect(Set(m2.map(\.id)).intersection(manifests.map(\.id)).count == 11)
        #expect(s2.node(at: "/red")!.id == s1.node(at: "/red")!.id)
        let refs2 = try repo.chunkRefs(snapshot: s2, path: "/red")
        #expect(refs2.count == 48 && refs2.first { $0.coords == [1, 3, 0] }?.payload == .inline(Array("new".utf8)))
        #expect(try repo.chunkRefs(snapshot: s1, path: "/red").first { $0.coords == [1, 3, 0] }?.payload == back.first { $0.coords == [1, 3, 0] }?.payload)
        #expect(try repo.transactionLog(second).updatedChunks.map(\.1) == [[[1, 3, 0]]])
        #expect(try repo.transactionLog(second).newArrays.isEmpty)

        // Metadata change only: an updated group, no manifests rewritten.
        let third = try repo.commit(branch: "main", parent: second, nodes: ["/": groupJSON("renamed")], message: "attrs")
        #expect(try repo.snapshot(third).manifestFiles == s2.manifestFiles)
        #expect(try repo.transactionLog(third).updatedGroups == [s1.node(at: "/")!.id])

        let log = try repo.ancestry(branch: "main")
        #expect(log.map(\.id) == [third, second, first, IcechunkRepository.initialSnapshotId])
        #expect(log.map(\.message) == ["attrs", "one chunk", "first", "Repository initialized"])
        #expect(try log[2].metadata.first?.value() == .uint(3))
    }

    @Test func deletingRemovesANodeAndWhatIsBelowIt() throws {
        let folder = Folder()
        defer { folder.remove() }
        let repo = try IcechunkRepository.create(storage: folder.store)
        let json = arrayJSON(shape: [2], chunks: [1], names: ["x"])
        let a = try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId,
                                nodes: ["/": groupJSON(), "/g": groupJSON(), "/g/a": json, "/g-b": json],
                                chunks: ["/g/a": [ChunkRef(coords: [0], payload: .inline([1]))]], message: "tree")
        let sa = try repo.snapshot(a)
        #expect(sa.nodes.map(\.path) == ["/", "/g", "/g-b", "/g/a"])  // byte order: "-" before "/"
        let b = try repo.commit(branch: "main", parent: a, deleting: ["/g"], message: "drop g")
        let sb = try repo.snapshot(b)
        #expect(sb.nodes.map(\.path) == ["/", "/g-b"])
        #expect(sb.manifestFiles.isEmpty)  // nothing left references /g/a's manifest
        let tx = try repo.transactionLog(b)
        #expect(tx.deletedGroups == [sa.node(at: "/g")!.id] && tx.deletedArrays == [sa.node(at: "/g/a")!.id])
        #expect(throws: IcechunkError.self) { try repo.commit(branch: "main", parent: b, deleting: ["/g"], message: "again") }
    }

    @Test func opsLogIsNewestFirstWithBackups() throws {
        let folder = Folder()
        defer { folder.remove() }
        let repo = try IcechunkRepository.create(storage: folder.store)
        let t0 = Date(timeIntervalSince1970: 2_000_000_000)
        let raw0 = try folder.store.get("repo")!
        let a = try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: ["/": groupJSON()],
                                message: "a", now: t0)
        // A clock that went backwards still gives strictly increasing timestamps.
        try repo.tag("v1", snapshot: a, now: t0.addingTimeInterval(-60))
        let info = try repo.info()
        #expect(info.latestUpdates.map(\.kind) == [.tagCreated(name: "v1"), .newCommit(branch: "main", snapshot: a), .repoInitialized])
        let times = info.latestUpdates.map(\.updatedAt)
        #expect(times[0] > times[1] && times[1] > times[2])
        #expect(info.latestUpdates[0].backupPath == nil)
        let backups = try folder.store.list(prefix: "overwritten")
        #expect(backups.count == 2)
        // The entry an update replaced names the backup of the repo object before it.
        let initBackup = info.latestUpdates[2].backupPath!
        #expect(initBackup.hasPrefix("repo.") && initBackup.count == 5 + 14 + 1 + 20)
        #expect(try folder.store.get("overwritten/\(initBackup)") == raw0)
        #expect(try repo.tags() == ["v1": a])
        #expect(throws: IcechunkError.self) { try repo.tag("v1", snapshot: a) }
        #expect(throws: IcechunkError.self) { try repo.tag("v2", snapshot: ObjectId12(high: 1, low: 1)) }
    }

    @Test func longOpsLogsLinkToTheirBackups() throws {
        let folder = Folder()
        defer { folder.remove() }
        _ = try IcechunkRepository.create(storage: folder.store)
        let repo = try IcechunkRepository.open(storage: folder.store, updatesPerFile: 3)
        for i in 0..<5 { try repo.tag("t\(i)", snapshot: IcechunkRepository.initialSnapshotId) }
        let info = try repo.info()
        #expect(info.latestUpdates.count == 3)
        #expect(info.latestUpdates.map(\.kind) == [.tagCreated(name: "t4"), .tagCreated(name: "t3"), .tagCreated(name: "t2")])
        // The link is the backup holding the entry that no longer fits (t1's repo before t2).
        let link = try #require(info.repoBeforeUpdates)
        let older = try Codec.decodeRepo(ObjectFile.decode(try folder.store.get("overwritten/\(link)")!, expect: .repoInfo).flatbuffer)
        #expect(older.latestUpdates.first?.kind == .tagCreated(name: "t1"))
    }

    @Test func aStaleParentIsAConflictAndChangesNothing() throws {
        let folder = Folder()
        defer { folder.remove() }
        let repo = try IcechunkRepository.create(storage: folder.store)
        let a = try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: ["/": groupJSON()], message: "a")
        let before = try folder.store.get("repo")
        #expect(throws: IcechunkError.conflict(branch: "main", expected: IcechunkRepository.initialSnapshotId, actual: a)) {
            try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: ["/": groupJSON("b")], message: "b")
        }
        #expect(try folder.store.get("repo") == before)
        #expect(throws: IcechunkError.self) {
            try repo.commit(branch: "nope", parent: a, message: "no such branch")
        }
    }

    @Test func losingTheRaceForRepoKeepsTheWinnersCommit() throws {
        let folder = Folder()
        defer { folder.remove() }
        let racing = RacingStore(folder.store)
        let repo = try IcechunkRepository.create(storage: racing)
        let other = try IcechunkRepository.open(storage: folder.store)
        var winner: ObjectId12?
        racing.interloper = {
            winner = try other.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: ["/": groupJSON("w")], message: "winner")
        }
        #expect(throws: IcechunkError.self) {
            try repo.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: ["/": groupJSON("l")], message: "loser")
        }
        #expect(try repo.ancestry(branch: "main").map(\.message) == ["winner", "Repository initialized"])
        #expect(try repo.tip(branch: "main") == winner)

        // An interloper that only adds a tag: the retry re-reads `repo` and both changes stay.
        racing.interloper = { try other.tag("during", snapshot: IcechunkRepository.initialSnapshotId) }
        let mine = try repo.commit(branch: "main", parent: winner!, nodes: ["/": groupJSON("m")], message: "mine")
        #expect(try repo.tip(branch: "main") == mine)
        #expect(try repo.tags() == ["during": IcechunkRepository.initialSnapshotId])
        #expect(try repo.info().latestUpdates.map(\.kind).prefix(2) == [.newCommit(branch: "main", snapshot: mine), .tagCreated(name: "during")])
    }

    @Test func manifestsOfAnotherWriterAreMergedNotOverlapped() throws {
        let folder = Folder()
        defer { folder.remove() }
        // A parent whose array has one manifest over its whole grid (icechunk's default).
        let whole = try IcechunkRepository.create(storage: folder.store, splitting: ManifestSplitting(chunksPerManifest: [:], otherwise: nil))
        let json = arrayJSON(shape: [4, 4], chunks: [1, 1], names: ["y", "x"])
        let all = (0..<16).map { ChunkRef(coords: [UInt32($0 / 4), UInt32($0 % 4)], payload: .inline([UInt8($0)])) }
        let p = try whole.commit(branch: "main", parent: IcechunkRepository.initialSnapshotId, nodes: ["/a": json],
                                 chunks: ["/a": all], message: "whole")
        #expect(try whole.snapshot(p).node(at: "/a")!.manifests.count == 1)
        // A finer splitting on top: refs inside the old extent merge into one manifest.
        let fine = try IcechunkRepository.open(storage: folder.store, splitting: ManifestSplitting(chunksPerManifest: [:], otherwise: 1))
        let c = try fine.commit(branch: "main", parent: p, chunks: ["/a": [ChunkRef(coords: [2, 2], payload: .inline([99]))]], message: "fine")
        let s = try fine.snapshot(c)
        let ms = s.node(at: "/a")!.manifests
        for i in ms.indices { for j in ms.indices where i < j { #expect(!ms[i].extent.overlaps(ms[j].extent)) } }
        let refs = try fine.chunkRefs(snapshot: s, path: "/a")
        #expect(refs.count == 16 && refs[10].payload == .inline([99]) && refs[11].payload == .inline([11]))
        #expect(throws: IcechunkError.self) {
            try fine.commit(branch: "main", parent: c, chunks: ["/a": [ChunkRef(coords: [4, 0], payload: .inline([1]))]], message: "outside")
        }
        #expect(throws: IcechunkError.self) {
            try fine.commit(branch: "main", parent: c, chunks: ["/missing": [ChunkRef(coords: [0, 0], payload: .inline([1]))]], message: "no node")
        }
    }

    @Test func localCompareAndSwapIsAtomicAcrossThreads() throws {
        let folder = Folder()
        defer { folder.remove() }
        let store = folder.store
        try store.put("counter", Data("0".utf8))
        #expect(try store.replace("counter", Data("x".utf8), ifMatch: "stale") == nil)
        #expect(try store.getVersioned("absent") == nil)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var done = 0
            while done < 25 {
                guard let (data, version) = try! store.getVersioned("counter") else { return }
                let n = Int(String(decoding: data, as: UTF8.self))! + 1
                if try! store.replace("counter", Data(String(n).utf8), ifMatch: version) != nil { done += 1 }
            }
        }
        #expect(try store.get("counter") == Data("100".utf8))
    }
}
