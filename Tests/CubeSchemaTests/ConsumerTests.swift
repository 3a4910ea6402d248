import Foundation
import Testing

/// Every consumer the cube is built for reads what `CubeSchema.initialize` and `ChunkWriter`
/// write: zarr-python, xarray (without a single warning), rioxarray, odc-geo, tensorstore and,
/// for Zarr v2, GDAL. One Python process per store checks everything against values the
/// checker derives on its own from the spec inputs (Tests/python/consumers/check_cube.py).
@Suite struct ConsumerTests {
    @Test(arguments: TestGridCase.all)
    func consumersReadTheCube(_ testCase: TestGridCase) throws {
        let cube = try WrittenCube.make(testCase)
        defer { cube.remove() }
        #expect(!cube.written.isEmpty)
        var arguments = [cube.storePath, "--expect", cube.expectPath]
        // The docs' examples run against one store of each format (they must not rot).
        if testCase.crs == "EPSG:4326" && testCase.zarrFormat == 3 || testCase.crs == "EPSG:32632" && testCase.zarrFormat == 2 {
            arguments += ["--docs", PythonConsumers.consumersDoc]
        }
        do {
            let output = try PythonConsumers.run("check_cube.py", arguments)
            #expect(output.contains("\nOK \(testCase.crs) v\(testCase.zarrFormat)"), "\(output)")
            print(output.trimmingCharacters(in: .whitespacesAndNewlines))  // which readers ran, and their versions
        } catch {
            Issue.record("\(error)")
        }
    }
}
