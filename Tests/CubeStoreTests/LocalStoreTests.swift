import Foundation
import Testing
@testable import CubeStore

@Suite struct LocalStoreTests {
    @Test func putGetOverwriteDelete() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path)
        #expect(try store.get("a/b/c.json") == nil)
        #expect(try store.exists("a/b/c.json") == false)
        try store.put("a/b/c.json", Data("one".utf8))
        #expect(try store.get("a/b/c.json") == Data("one".utf8))
        #expect(try store.exists("a/b/c.json"))
        #expect(try store.exists("a/b") == false, "a folder is not an object")
        #expect(try store.get("a/b") == nil)
        try store.put("a/b/c.json", Data("second".utf8))
        #expect(try store.get("a/b/c.json") == Data("second".utf8))
        try store.put("empty", Data())
        #expect(try store.get("empty") == Data())
        try store.delete("a/b/c.json")
        try store.delete("a/b/c.json")  // deleting twice is fine
        #expect(try store.get("a/b/c.json") == nil)
        #expect(folder.allFiles() == ["empty"])
    }

    @Test func largeObjectRoundTrips() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        let payload = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try store.put("big", payload)
        #expect(try store.get("big") == payload)
    }

    @Test func listIsRecursiveSortedAndHidesTemporaryFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        for key in ["red/c/0/1/0", "red/c/0/0/1", "red/zarr.json", "zarr.json", "_cube/done/2024-03/0.1.json", ".zattrs"] {
            try store.put(key, Data(key.utf8))
        }
        // A temporary file left by a crashed writer must stay invisible.
        _ = FileManager.default.createFile(atPath: folder.path + "/red/c/0/\(StoreKey.temporaryMarker)99.abc", contents: Data("partial".utf8))
        #expect(try store.list(prefix: "") == [".zattrs", "_cube/done/2024-03/0.1.json", "red/c/0/0/1", "red/c/0/1/0", "red/zarr.json", "zarr.json"])
        #expect(try store.list(prefix: "red") == ["red/c/0/0/1", "red/c/0/1/0", "red/zarr.json"])
        #expect(try store.list(prefix: "red/c/") == ["red/c/0/0/1", "red/c/0/1/0"])
        #expect(try store.list(prefix: "re") == [], "a prefix names a folder, not a string prefix")
        #expect(try store.list(prefix: "missing") == [])
        let children = try store.listChildren(prefix: "")
        #expect(children == StoreChildren(objects: [".zattrs", "zarr.json"], folders: ["_cube", "red"]))
        #expect(try store.listChildren(prefix: "red/c/0") == StoreChildren(objects: [], folders: ["0", "1"]))
    }

    @Test func defaultListChildrenMatchesLocalOne() throws {
        /// A store that only has the required listing, to exercise the protocol's default.
        final class ListOnly: Store, @unchecked Sendable {
            let inner: LocalStore
            init(_ inner: LocalStore) { self.inner = inner }
            var description: String { inner.description }
            func get(_ key: String) throws -> Data? { try inner.get(key) }
            func put(_ key: String, _ data: Data) throws { try inner.put(key, data) }
            func createIfAbsent(_ key: String, _ data: Data) throws -> Bool { try inner.createIfAbsent(key, data) }
            func exists(_ key: String) throws -> Bool { try inner.exists(key) }
            func list(prefix: String) throws -> [String] { try inner.list(prefix: prefix) }
            func delete(_ key: String) throws { try inner.delete(key) }
        }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let local = LocalStore(root: folder.path, durable: false)
        for key in ["a/x", "a/b/y", "a/c/d/z", "top"] { try local.put(key, Data()) }
        let generic = ListOnly(local)
        for prefix in ["", "a", "a/c"] {
            #expect(try generic.listChildren(prefix: prefix) == local.listChildren(prefix: prefix))
        }
    }

    @Test func createIfAbsentCreatesOnce() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path)
        #expect(try store.createIfAbsent("_cube/claims/job", Data("first".utf8)))
        #expect(try store.createIfAbsent("_cube/claims/job", Data("second".utf8)) == false)
        #expect(try store.get("_cube/claims/job") == Data("first".utf8))
        #expect(folder.allFiles() == ["_cube/claims/job"], "no temporary file is left behind")
    }

    @Test func racingCreatorsHaveExactlyOneWinner() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        for round in 0..<20 {
            let key = "claims/\(round)"
            let wins = Counter()
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                if (try? store.createIfAbsent(key, Data("worker \(worker)".utf8))) == true { wins.increment() }
            }
            #expect(wins.value == 1)
            let content = try #require(try store.get(key))
            #expect(String(decoding: content, as: UTF8.self).hasPrefix("worker "))
        }
        #expect(try store.list(prefix: "claims").count == 20)
        #expect(folder.allFiles().count == 20, "no temporary files remain")
    }

    @Test func readersNeverSeeAPartialObject() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        let versions = [Data(repeating: 0xAA, count: 1 << 20), Data(repeating: 0x55, count: 3 << 19)]
        try store.put("chunk", versions[0])
        let bad = Counter()
        DispatchQueue.concurrentPerform(iterations: 2) { role in
            for step in 0..<60 {
                if role == 0 {
                    try? store.put("chunk", versions[step % 2])
                } else if let data = try? store.get("chunk"), !versions.contains(data) {
                    bad.increment()
                }
            }
        }
        #expect(bad.value == 0)
    }

    @Test func relativeRootIsResolvedAndDescribed() throws {
        let store = LocalStore(root: "some/cube.zarr/")
        #expect(store.root == FileManager.default.currentDirectoryPath + "/some/cube.zarr")
        #expect(store.description == store.root)
    }
}

/// A thread-safe counter for the race tests.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
