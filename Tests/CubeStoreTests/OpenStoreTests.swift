import Foundation
import Testing
@testable import CubeStore

@Suite struct OpenStoreTests {
    @Test func pathsOpenLocalStores() throws {
        let absolute = try #require(try openStore("/data/cube.zarr") as? LocalStore)
        #expect(absolute.root == "/data/cube.zarr")
        let relative = try #require(try openStore("out/cube.zarr") as? LocalStore)
        #expect(relative.root == FileManager.default.currentDirectoryPath + "/out/cube.zarr")
        let url = try #require(try openStore("file:///data/cube.zarr") as? LocalStore)
        #expect(url.root == "/data/cube.zarr")
    }

    @Test func objectStoresAreNotSupportedYet() {
        for location in ["s3://bucket/cube.zarr", "S3://bucket/x", "gs://bucket/x", "", "file://relative"] {
            #expect {
                _ = try openStore(location)
            } throws: { error in
                guard case let StoreError.unsupported(named, _) = error else { return false }
                return named == location
            }
        }
        do {
            _ = try openStore("s3://bucket/cube.zarr")
            Issue.record("s3:// opened")
        } catch {
            #expect("\(error)".contains("S3 stores are not supported yet"))
        }
    }
}
