import Foundation
import Testing
@testable import CubeStore

@Suite struct StoreKeyTests {
    @Test(arguments: [
        "", "/etc/passwd", "a//b", "a/", "../x", "a/../../x", "a/..", "..", "a..b", "a\\b",
        "a\u{0}b", "a\nb", "a\tb", "a\u{7F}", "./a", "a/./b", "a/.", "x/\(StoreKey.temporaryMarker)1",
        String(repeating: "x", count: 256),
    ])
    func rejectsUnsafeKeys(_ key: String) {
        #expect(throws: StoreError.self) { try StoreKey.validate(key) }
    }

    @Test(arguments: ["zarr.json", ".zarray", "red/c/0/1/2", "red/0.1.2", "_cube/done/2024-03/4.7.json", "a b/ü"])
    func acceptsOrdinaryKeys(_ key: String) throws {
        try StoreKey.validate(key)
    }

    @Test func invalidKeyErrorNamesTheKeyWithoutRawControlCharacters() {
        let error = StoreError.invalidKey(key: "a\nb", reason: "the key contains a control character")
        #expect(error.description == #"invalid store key "a\u{a}b": the key contains a control character"#)
    }

    @Test func folderPrefixNormalisesTrailingSlash() throws {
        #expect(try StoreKey.folderPrefix("") == "")
        #expect(try StoreKey.folderPrefix("_cube/done") == "_cube/done/")
        #expect(try StoreKey.folderPrefix("_cube/done/") == "_cube/done/")
        #expect(throws: StoreError.self) { try StoreKey.folderPrefix("../x") }
        #expect(throws: StoreError.self) { try StoreKey.folderPrefix("/") }
    }

    @Test func localStoreNeverWritesOutsideItsRoot() throws {
        let parent = try TemporaryFolder()
        defer { parent.remove() }
        let store = LocalStore(root: parent.path + "/store")
        for key in ["../escape", "/tmp/escape", "a/../../escape", "a\\..\\escape"] {
            #expect(throws: StoreError.self) { try store.put(key, Data("x".utf8)) }
            #expect(throws: StoreError.self) { _ = try store.createIfAbsent(key, Data("x".utf8)) }
            #expect(throws: StoreError.self) { try store.delete(key) }
            #expect(throws: StoreError.self) { _ = try store.get(key) }
        }
        #expect(parent.allFiles().isEmpty)
    }
}
