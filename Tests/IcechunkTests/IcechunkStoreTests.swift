import CubeStore
import Foundation
import Testing
@testable import Icechunk

/// `IcechunkStore`: the cube's `Store` view of a repository, its staging area and commits.
@Suite struct IcechunkStoreTests {
    let redJSON = arrayJSON(shape: [1, 4, 4], chunks: [1, 2, 2], names: ["time", "y", "x"])
    let bigChunk = Data((0..<2048).map { UInt8($0 % 251) })

    func make(_ folder: Folder) throws -> (IcechunkRepository, IcechunkStore) {
        let repo = try IcechunkRepository.create(storage: folder.store)
        return (repo, IcechunkStore(repository: repo, location: "icechunk:\(folder.path)", mode: .write))
    }

    func writer(_ repo: IcechunkRepository) -> IcechunkStore {
        IcechunkStore(repository: repo, location: "test", mode: .write)
    }

    func reader(_ repo: IcechunkRepository, _ pinned: ObjectId12? = nil) -> IcechunkStore {
        IcechunkStore(repository: repo, location: "test", mode: .read(pinned: pinned ?? (try? repo.tip(branch: "main"))))
    }

    func stagedFiles(_ folder: Folder) throws -> [String] { try folder.store.list(prefix: StagingArea.prefix) }

    @Test func writesReachReadersOnlyThroughACommit() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (repo, store) = try make(folder)
        try store.put("zarr.json", groupJSON())
        try store.put("red/zarr.json", redJSON)
        try store.put("red/c/0/0/1", bigChunk)
        try store.put("red/c/0/1/1", Data([1, 2, 3]))
        try store.put("_cube/plan.json", Data("{}".utf8))
        // The writer reads its own writes; a reader of main sees nothing yet.
        #expect(try store.get("red/c/0/0/1") == bigChunk)
        #expect(try reader(repo).get("red/zarr.json") == nil && reader(repo).get("red/c/0/0/1") == nil)
        #expect(try stagedFiles(folder).count == 1, "the bookkeeping write staged the writes before it")
        let id = try #require(try store.commitStaged(message: "first", metadata: [:]))
        #expect(try repo.tip(branch: "main") == id)
        let r = reader(repo)
        #expect(try r.get("red/zarr.json") == redJSON && r.get("red/c/0/0/1") == bigChunk && r.get("red/c/0/1/1") == Data([1, 2, 3]))
        #expect(try r.get("red/c/0/0/0") == nil && !r.exists("red/c/0/0/0") && r.exists("red/c/0/0/1"))
        // Small chunks are inline, as icechunk writes them; large ones are objects.
        let refs = try repo.chunkRefs(snapshot: repo.snapshot(id), path: "/red")
        #expect(refs.map(\.coords) == [[0, 0, 1], [0, 1, 1]])
        #expect(refs[1].payload == .inline([1, 2, 3]))
        if case .native = refs[0].payload {} else { Issue.record("a 2 KiB chunk is an object: \(refs[0].payload)") }
        #expect(try stagedFiles(folder).isEmpty, "a commit consumes the staging area")
        // The bookkeeping sits beside the repository, in no snapshot.
        #expect(try r.get("_cube/plan.json") == Data("{}".utf8))
        #expect(try !repo.snapshot(id).nodes.contains { $0.path.hasPrefix("/_cube") })
        #expect(try store.commitStaged(message: "nothing", metadata: [:]) == nil, "nothing staged: no commit")
        #expect(try repo.ancestry(branch: "main").count == 2)
    }

    @Test func theCoordinatorCommitsWhatOtherProcessesStaged() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (repo, coordinator) = try make(folder)
        try coordinator.put("zarr.json", groupJSON())
        try coordinator.put("red/zarr.json", redJSON)
        try #require(coordinator.commitStaged(message: "schema", metadata: [:]) != nil)
        // A worker: a chunk, then its done record (which stages the chunk first).
        let worker = writer(repo)
        try worker.put("red/c/0/1/0", bigChunk)
        #expect(try coordinator.get("red/c/0/1/0") == nil, "not staged yet")
        try worker.put("_cube/done/0.json", Data("{}".utf8))
        try coordinator.refreshStaged()
        #expect(try coordinator.get("red/c/0/1/0") == bigChunk, "readable once staged and refreshed")
        // A worker killed before its done record loses only its unstaged writes.
        try writer(repo).put("red/c/0/1/1", bigChunk)
        let id = try #require(try coordinator.commitStaged(message: "data", metadata: ["jobs": .string("1")]))
        let refs = try repo.chunkRefs(snapshot: repo.snapshot(id), path: "/red")
        #expect(refs.map(\.coords) == [[0, 1, 0]])
        #expect(try repo.ancestry(branch: "main").first?.metadata.first { $0.name == "jobs" }?.value() == .string("1"))
    }

    @Test func chunksOutsideTheCommittedShapeWaitForIt() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (repo, store) = try make(folder)
        try store.put("zarr.json", groupJSON())
        try store.put("red/zarr.json", redJSON)
        try store.put("red/c/0/0/0", bigChunk)
        try store.put("red/c/1/0/0", bigChunk + Data([9]))   // the next bin: not in the shape yet
        let first = try #require(try store.commitStaged(message: "bin 0", metadata: [:]))
        #expect(try repo.chunkRefs(snapshot: repo.snapshot(first), path: "/red").map(\.coords) == [[0, 0, 0]])
        #expect(try stagedFiles(folder).count == 1, "the held chunk stays staged")
        // Another process (a later run) finds it staged, and commits it once the array grows.
        let later = writer(repo)
        try later.refreshStaged()
        #expect(try later.get("red/c/1/0/0") == bigChunk + Data([9]))
        try later.put("red/zarr.json", arrayJSON(shape: [2, 4, 4], chunks: [1, 2, 2], names: ["time", "y", "x"]))
        let second = try #require(try later.commitStaged(message: "bin 1", metadata: [:]))
        #expect(try repo.chunkRefs(snapshot: repo.snapshot(second), path: "/red").map(\.coords) == [[0, 0, 0], [1, 0, 0]])
        #expect(try stagedFiles(folder).isEmpty)
        #expect(try reader(repo).get("red/c/1/0/0") == bigChunk + Data([9]))
        #expect(try reader(repo, first).get("red/c/1/0/0") == nil, "the older version does not change")
    }

    @Test func deletedChunksAndNodesLeaveTheNextCommit() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (repo, store) = try make(folder)
        try store.put("zarr.json", groupJSON())
        try store.put("red/zarr.json", redJSON)
        try store.put("nir/zarr.json", redJSON)
        for key in ["red/c/0/0/0", "red/c/0/0/1", "nir/c/0/0/0"] { try store.put(key, bigChunk) }
        let first = try #require(try store.commitStaged(message: "three chunks", metadata: [:]))
        try store.delete("red/c/0/0/1")
        try store.delete("nir/c/0/0/0")
        try store.delete("nir/zarr.json")
        #expect(try !store.exists("red/c/0/0/1") && store.exists("red/c/0/0/0"))
        let second = try #require(try store.commitStaged(message: "deletions", metadata: [:]))
        let snap = try repo.snapshot(second)
        #expect(snap.nodes.map(\.path) == ["/", "/red"])
        #expect(try repo.chunkRefs(snapshot: snap, path: "/red").map(\.coords) == [[0, 0, 0]])
        #expect(try reader(repo).list(prefix: "") == ["red/c/0/0/0", "red/zarr.json", "zarr.json"])
        #expect(try reader(repo, first).list(prefix: "red").count == 3)
        let tx = try repo.transactionLog(second)
        #expect(tx.deletedArrays.count == 1)
    }

    @Test func listingsShowTheCubeNotTheRepositoryInternals() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (_, store) = try make(folder)
        try store.put("zarr.json", groupJSON())
        try store.put("red/zarr.json", redJSON)
        try store.put("red/c/0/0/0", bigChunk)
        try store.put("_cube/spec.yaml", Data("x".utf8))
        _ = try store.commitStaged(message: "m", metadata: [:])
        try store.put("pyr/zarr.json", groupJSON("pyramid"))   // staged only
        #expect(try store.list(prefix: "") == ["_cube/spec.yaml", "pyr/zarr.json", "red/c/0/0/0", "red/zarr.json", "zarr.json"])
        let root = try store.listChildren(prefix: "")
        #expect(root.objects == ["zarr.json"] && root.folders == ["_cube", "pyr", "red"])
        #expect(try store.listChildren(prefix: "red").folders == ["c"])
        #expect(try store.listChildren(prefix: "_cube").objects == ["spec.yaml"] && store.listChildren(prefix: "_cube").folders.isEmpty)
    }

    @Test func aCrashBetweenTheCommitAndItsCleanUpDoesNotCommitTwice() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (repo, store) = try make(folder)
        try store.put("zarr.json", groupJSON())
        try store.put("red/zarr.json", redJSON)
        try store.put("red/c/0/0/0", bigChunk)
        try store.flushPending()
        let name = try #require(try stagedFiles(folder).first)
        let saved = try #require(try folder.store.get(name))
        let id = try #require(try store.commitStaged(message: "m", metadata: [:]))
        // As if the process died right after moving the branch: the file and the intent remain.
        try folder.store.put(name, saved)
        try folder.store.put(StagingArea.intentKey, JSONEncoder().encode(StagingArea.Intent(snapshot: id.description, parent: "", files: [name])))
        let next = writer(repo)
        #expect(try next.commitStaged(message: "again", metadata: [:]) == nil)
        #expect(try stagedFiles(folder).isEmpty && !folder.store.exists(StagingArea.intentKey))
        #expect(try repo.ancestry(branch: "main").count == 2)
        // An intent whose commit never landed is dropped, and its files are committed.
        try folder.store.put(name, saved)
        try folder.store.put(StagingArea.intentKey, JSONEncoder().encode(StagingArea.Intent(snapshot: ObjectId12.random().description, parent: "", files: [name])))
        let other = writer(repo)
        #expect(try other.get("red/c/0/0/0") == bigChunk)
        try other.put("red/c/0/0/0", bigChunk + Data([1]))
        #expect(try other.commitStaged(message: "third", metadata: [:]) != nil)
        #expect(try reader(repo).get("red/c/0/0/0") == bigChunk + Data([1]), "this process's later write wins")
    }

    @Test func losingTheRaceForMainKeepsEveryStagedWrite() throws {
        let folder = Folder()
        defer { folder.remove() }
        let racing = RacingStore(folder.store)
        let repo = try IcechunkRepository.create(storage: racing)
        let store = IcechunkStore(repository: repo, location: "race", mode: .write)
        try store.put("zarr.json", groupJSON())
        try store.put("red/zarr.json", redJSON)
        try store.put("red/c/0/0/0", bigChunk)
        // Another writer (icechunk-python, say) commits between our read of main and our move.
        let other = try IcechunkRepository.open(storage: folder.store)
        racing.interloper = {
            _ = try other.commit(branch: "main", parent: other.tip(branch: "main"), nodes: ["/": groupJSON("theirs"), "/qa": redJSON],
                                 message: "theirs")
        }
        #expect {
            try store.commitStaged(message: "ours", metadata: [:])
        } throws: { "\($0)".contains("another writer committed to main") }
        #expect(try repo.ancestry(branch: "main").map(\.message) == ["theirs", IcechunkRepository.initialMessage])
        #expect(try stagedFiles(folder).count == 1, "nothing staged is lost")
        // The next commit goes on top of theirs and keeps their node.
        let id = try #require(try store.commitStaged(message: "ours", metadata: [:]))
        #expect(try repo.ancestry(branch: "main").map(\.message) == ["ours", "theirs", IcechunkRepository.initialMessage])
        #expect(try repo.snapshot(id).nodes.map(\.path) == ["/", "/qa", "/red"])
    }

    @Test func readersRefuseWritesAndZarrV2IsRefused() throws {
        let folder = Folder()
        defer { folder.remove() }
        let (repo, store) = try make(folder)
        #expect(throws: StoreError.self) { try reader(repo).put("zarr.json", groupJSON()) }
        #expect(throws: StoreError.self) { try reader(repo).beginSession(SessionOptions()) }
        #expect { try store.put(".zgroup", Data("{}".utf8)) } throws: { "\($0)".contains("Zarr v3 only") }
        #expect(throws: IcechunkError.self) { try store.put("zarr.json", Data(#"{"zarr_format":2}"#.utf8)) }
        #expect(throws: IcechunkError.self) { try repo.resolve("nope") }
        #expect(try repo.resolve("main") == IcechunkRepository.initialSnapshotId)
        #expect(try repo.resolve(IcechunkRepository.initialSnapshotId.description.lowercased()) == IcechunkRepository.initialSnapshotId)
    }

    @Test func locationsOpenCreateAndRefuse() throws {
        let folder = Folder()
        defer { folder.remove() }
        let location = "icechunk:\(folder.path)"
        #expect { try IcechunkStore.open(location, access: .write) } throws: { "\($0)".contains("no Icechunk repository there") }
        let created = try IcechunkStore.open(location, access: .create)
        #expect(try created.mode == .write && folder.store.exists("repo"))
        #expect(try IcechunkStore.open(location, access: .create).mode == .write, "opening again finds it")
        let other = Folder()
        defer { other.remove() }
        try other.store.put("x", Data([1]))
        #expect { try IcechunkStore.open("icechunk:\(other.path)", access: .create) } throws: { "\($0)".contains("holds objects") }
        #expect { try IcechunkStore.open("icechunk:", access: .create) } throws: { "\($0)".contains("needs a folder") }
    }
}
