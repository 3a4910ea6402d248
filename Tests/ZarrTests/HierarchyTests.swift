import CubeStore
import Foundation
import JSON
import Testing
@testable import Zarr

@Suite struct HierarchyTests {
    @Test(arguments: ZarrFormat.allCases)
    func writesTheExpectedKeys(_ format: ZarrFormat) throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        _ = try TestCube.write(to: store, format: format)
        let keys = try store.list(prefix: "")
        switch format {
        case .v3:
            #expect(keys.contains("zarr.json") && keys.contains("red/zarr.json") && keys.contains("meta/x/zarr.json"))
            #expect(keys.contains("red/c/1/1/1") && keys.contains("scalar/c") && keys.contains("meta/x/c/0"))
            #expect(!keys.contains("green/c/1/1/1") && !keys.contains("temp/c/1/0"))
            #expect(keys.filter { $0.hasPrefix("red/c/") }.count == 8)
        case .v2:
            #expect(Set([".zgroup", ".zattrs", ".zmetadata", "red/.zarray", "red/.zattrs", "meta/.zgroup", "meta/x/.zarray"]).isSubset(of: keys))
            #expect(keys.contains("red/1.1.1") && keys.contains("scalar/0") && keys.contains("meta/x/0"))
            #expect(!keys.contains("green/1.1.1") && !keys.contains("temp/1.0"))
        }
    }

    @Test(arguments: ZarrFormat.allCases)
    func readsBackWhatItWrote(_ format: ZarrFormat) throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        _ = try TestCube.write(to: store, format: format)
        let zarr = try ZarrHierarchy.open(store: store)
        #expect(zarr.format == format)
        #expect(try zarr.readGroupAttributes() == TestCube.rootAttributes)
        #expect(try zarr.readGroupAttributes(path: "meta") == ["a": 1])
        let red = try zarr.readArrayMetadata(path: "red")
        #expect(red == TestCube.red)
        #expect(try zarr.readArrayMetadata(path: "temp") == TestCube.temp)
        #expect(try zarr.readArrayMetadata(path: "scalar") == TestCube.scalar)
        let chunk = try zarr.readChunk(arrayPath: "red", metadata: red, chunkIndex: [1, 1, 1], as: UInt16.self)
        #expect(chunk == TestCube.chunkValues(red, [1, 1, 1], fill: 0, value: TestCube.redValue))
        #expect(try zarr.readChunk(arrayPath: "green", metadata: TestCube.green, chunkIndex: [1, 1, 1]) == nil)
        #expect(try zarr.readChunk(arrayPath: "scalar", metadata: TestCube.scalar, chunkIndex: [], as: Int64.self) == [42])
        #expect(throws: ZarrError.self) { _ = try zarr.readChunk(arrayPath: "red", metadata: red, chunkIndex: [0, 0, 0], as: Float.self) }
        #expect(throws: ZarrError.self) { _ = try zarr.readArrayMetadata(path: "missing") }
    }

    @Test(arguments: ZarrFormat.allCases)
    func sameInputGivesByteIdenticalStores(_ format: ZarrFormat) throws {
        let first = try ScratchFolder(), second = try ScratchFolder()
        defer { first.remove(); second.remove() }
        let a = LocalStore(root: first.path, durable: false), b = LocalStore(root: second.path, durable: false)
        _ = try TestCube.write(to: a, format: format)
        _ = try TestCube.write(to: b, format: format)
        let keys = try a.list(prefix: "")
        #expect(keys == (try b.list(prefix: "")))
        for key in keys { #expect(try a.get(key) == b.get(key), "\(key) differs") }
    }

    @Test func v3ConsolidatedMetadataMatchesZarrPythonLayout() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        _ = try TestCube.write(to: store, format: .v3)
        let root = try JSONValue.parse(try #require(try store.get("zarr.json")))
        #expect(root["attributes"] == .object(TestCube.rootAttributes))
        let consolidated = try #require(root["consolidated_metadata"])
        #expect(consolidated["kind"] == "inline")
        #expect(consolidated["must_understand"] == false)
        let nodes = try #require(consolidated["metadata"]?.objectValue)
        #expect(nodes.keys.sorted() == ["count", "green", "meta", "meta/x", "red", "scalar", "temp"])
        #expect(nodes["red"] == TestCube.red.v3Document())
        #expect(nodes["meta"] == ["zarr_format": 3, "node_type": "group", "attributes": ["a": 1],
                                  "consolidated_metadata": ["kind": "inline", "must_understand": false, "metadata": [:]]])
    }

    @Test func v2ConsolidatedMetadataListsEveryDocument() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        _ = try TestCube.write(to: store, format: .v2)
        let document = try JSONValue.parse(try #require(try store.get(".zmetadata")))
        #expect(document["zarr_consolidated_format"] == 1)
        let metadata = try #require(document["metadata"]?.objectValue)
        #expect(metadata.keys.sorted() == [
            ".zattrs", ".zgroup", "count/.zarray", "count/.zattrs", "green/.zarray", "green/.zattrs",
            "meta/.zattrs", "meta/.zgroup", "meta/x/.zarray", "meta/x/.zattrs", "red/.zarray", "red/.zattrs",
            "scalar/.zarray", "scalar/.zattrs", "temp/.zarray", "temp/.zattrs",
        ])
        #expect(metadata["red/.zarray"] == TestCube.red.v2Documents().zarray)
        #expect(metadata["red/.zattrs"] == TestCube.red.v2Documents().zattrs)
    }

    @Test func consolidationSkipsNonZarrFoldersAndNeverListsChunks() throws {
        /// Records listings, to prove consolidation does not walk into arrays or _cube/.
        final class Recording: Store, @unchecked Sendable {
            let inner: LocalStore
            var listed: [String] = []
            init(_ inner: LocalStore) { self.inner = inner }
            var description: String { inner.description }
            func get(_ key: String) throws -> Data? { try inner.get(key) }
            func put(_ key: String, _ data: Data) throws { try inner.put(key, data) }
            func createIfAbsent(_ key: String, _ data: Data) throws -> Bool { try inner.createIfAbsent(key, data) }
            func exists(_ key: String) throws -> Bool { try inner.exists(key) }
            func list(prefix: String) throws -> [String] { listed.append("list " + prefix); return try inner.list(prefix: prefix) }
            func listChildren(prefix: String) throws -> StoreChildren { listed.append(prefix); return try inner.listChildren(prefix: prefix) }
            func delete(_ key: String) throws { try inner.delete(key) }
        }
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = Recording(LocalStore(root: folder.path, durable: false))
        try store.put("_cube/done/2024-01/0.0.json", Data("{}".utf8))
        _ = try TestCube.write(to: store, format: .v3)
        #expect(store.listed == ["", "meta"])
        let nodes = try JSONValue.parse(try #require(try store.get("zarr.json")))["consolidated_metadata"]?["metadata"]?.objectValue
        #expect(nodes?["_cube"] == nil)
    }

    @Test func badPathsAndChunkIndicesAreRejected() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let zarr = ZarrHierarchy(store: LocalStore(root: folder.path, durable: false), format: .v3)
        #expect(throws: StoreError.self) { try zarr.createArray(path: "../red", metadata: TestCube.red) }
        #expect(throws: ZarrError.self) { try zarr.createArray(path: "bad", metadata: ArrayMetadata(shape: [2], chunks: [0], dataType: .uint8)) }
        #expect(throws: ZarrError.self) {
            try zarr.writeChunk(arrayPath: "red", metadata: TestCube.red, chunkIndex: [2, 0, 0], values: [UInt16](repeating: 0, count: 12))
        }
        #expect(throws: ZarrError.self) {
            try zarr.writeChunk(arrayPath: "red", metadata: TestCube.red, chunkIndex: [0, 0, 0], values: [UInt16](repeating: 0, count: 11))
        }
        #expect(throws: ZarrError.self) { _ = try ZarrHierarchy.open(store: zarr.store) }
    }

    @Test func corruptStoredChunkIsAnErrorNamingTheKey() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        let zarr = try TestCube.write(to: store, format: .v3)
        try store.put("red/c/0/0/0", Data("garbage".utf8))
        #expect {
            _ = try zarr.readChunk(arrayPath: "red", metadata: TestCube.red, chunkIndex: [0, 0, 0])
        } throws: { error in
            "\(error)".contains("red/c/0/0/0")
        }
    }
}

extension ZarrFormat: CustomTestStringConvertible {
    public var testDescription: String { "v\(rawValue)" }
}
