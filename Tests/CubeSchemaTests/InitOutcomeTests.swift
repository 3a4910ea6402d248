import CubePlan
import CubeSchema
import CubeStore
import Foundation
import Testing

/// `cube init` is safe to re-run: the same spec changes nothing, a different spec is refused
/// unless forced, and a folder that is not a cube is never written into.
@Suite struct InitOutcomeTests {
    /// Every file below a folder with its bytes.
    static func snapshot(_ root: String) -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let item = enumerator?.nextObject() as? String {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + item, isDirectory: &isFolder), !isFolder.boolValue {
                files[item] = FileManager.default.contents(atPath: root + "/" + item)
            }
        }
        return files
    }

    @Test(arguments: [TestGridCase.utm.with(format: 3), TestGridCase.utm.with(format: 2)])
    func sameSpecIsUnchangedAndWritesNothing(_ testCase: TestGridCase) throws {
        let cube = try WrittenCube.make(testCase)
        defer { cube.remove() }
        let before = Self.snapshot(cube.storePath)
        #expect(before.count > 20)
        let spec = try testCase.spec()
        // A later clock: an init that wrote anything would change `cube:created`.
        let outcome = try CubeSchema.initialize(spec: spec, plan: try Plan.make(spec),
                                                store: LocalStore(root: cube.storePath, durable: false),
                                                now: Date().addingTimeInterval(3600))
        #expect(outcome == .unchanged)
        #expect(Self.snapshot(cube.storePath) == before)
    }

    @Test(arguments: [TestGridCase.geographic.with(format: 3), TestGridCase.geographic.with(format: 2)])
    func differentSpecNeedsForceAndForceReportsRemovals(_ testCase: TestGridCase) throws {
        let cube = try WrittenCube.make(testCase)
        defer { cube.remove() }
        let store = LocalStore(root: cube.storePath, durable: false)
        let before = Self.snapshot(cube.storePath)
        let other = try testCase.spec(bands: ["red", "swir16"])
        let plan = try Plan.make(other)

        let error = #expect(throws: SchemaError.self) {
            try CubeSchema.initialize(spec: other, plan: plan, store: store)
        }
        #expect(error?.description.contains("bands") == true, "\(String(describing: error))")
        #expect(error?.description.contains("--force") == true)
        #expect(Self.snapshot(cube.storePath) == before, "a refused init must not touch the store")

        let objects = try store.list(prefix: "").count
        #expect(objects == before.count)
        let outcome = try CubeSchema.initialize(spec: other, plan: plan, store: store, force: true)
        #expect(outcome == .replaced(removedObjects: objects))
        // The old cube is gone (its chunks and its band arrays), the new one is complete.
        let keys = try store.list(prefix: "")
        #expect(!keys.contains { $0.hasPrefix("green/") || $0.hasPrefix("nir/") })
        #expect(!keys.contains { $0.hasPrefix("red/") && !$0.hasSuffix("zarr.json") && !$0.hasSuffix(".zarray") && !$0.hasSuffix(".zattrs") })
        let reopened = try CubeSchema.open(store: store)
        #expect(reopened.layout.bandNames == ["red", "swir16"])
        #expect(try CubeSchema.initialize(spec: other, plan: plan, store: store) == .unchanged)
    }

    @Test func nonCubeFolderIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cubeschema-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/photos", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: folder + "/photos/holiday.jpg", contents: Data("not a cube".utf8))
        let before = Self.snapshot(folder)
        let spec = try TestGridCase.utm.spec()

        let error = #expect(throws: SchemaError.self) {
            try CubeSchema.initialize(spec: spec, plan: try Plan.make(spec), store: LocalStore(root: folder, durable: false))
        }
        #expect(error?.description.contains("not a cube store") == true, "\(String(describing: error))")
        #expect(Self.snapshot(folder) == before)
    }

    @Test func emptyFolderIsCreated() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cubeschema-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let spec = try TestGridCase.laea.spec()
        let store = LocalStore(root: folder, durable: false)
        #expect(try CubeSchema.initialize(spec: spec, plan: try Plan.make(spec), store: store) == .created)
        #expect(try store.exists("_cube/build.json"))
        #expect(try store.exists("_cube/plan.json"))
        #expect(try store.get("_cube/spec.yaml") == Data(spec.sourceText.utf8))
    }
}
