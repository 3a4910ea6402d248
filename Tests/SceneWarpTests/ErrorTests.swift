import CubeGrid
import Foundation
import GDALKit
import SceneWarp
import Testing

@Suite struct ErrorTests {
    private let utm = GeoTransform(500_000, 10, 0, 5_000_040, 0, -10)
    private func box() throws -> GeoBox {
        try GeoBox(crs: CRS("EPSG:32632"), resolutionX: 10, resolutionY: 10, ix0: 50_000, iy0: 500_004,
                   width: 512, height: 512, chunk: 512)
    }

    private func expectError(_ kind: SceneWarpError.Kind, naming href: String,
                             _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a \(kind) error for \(href)")
        } catch let error as SceneWarpError {
            #expect(error.kind == kind, "\(error)")
            #expect(error.href == href)
            #expect(error.description.contains(href))
        } catch {
            Issue.record("unexpected error type: \(error)")
        }
    }

    @Test func missingFileThrowsOpenError() throws {
        let href = "/nonexistent/S2B_32TNR/B04.tif"
        expectError(.open, naming: href) { _ = try SceneReader().plan(href: href, target: try box()) }
    }

    @Test func truncatedFileThrowsReadError() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "cut.tif", width: 512, height: 512, geoTransform: utm, epsg: 32632,
                              data: randomSamples(512 * 512, seed: 8, maxValue: UInt16(60_000)))
        // Keep the header and the first tiles: opening works, decoding the later tiles fails.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: src.path)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: src.path))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
        expectError(.read, naming: src.path) {
            let _: [UInt16] = try SceneReader().read(href: src.path, target: try box())
        }
    }

    @Test func corruptTilesThrowReadError() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "bad.tif", width: 512, height: 512, geoTransform: utm, epsg: 32632,
                              data: randomSamples(512 * 512, seed: 9, maxValue: UInt16(60_000)))
        // Overwrite the middle of the compressed tile data with garbage.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: src.path))
        let start = bytes.count / 3
        for i in start..<(start + 4096) { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        try bytes.write(to: URL(fileURLWithPath: src.path))
        expectError(.read, naming: src.path) {
            let _: [UInt16] = try SceneReader().read(href: src.path, target: try box())
        }
    }

    @Test func notARasterThrowsOpenError() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let path = dir.path("page.tif")
        try "<html>404 Not Found</html>".write(toFile: path, atomically: true, encoding: .utf8)
        expectError(.open, naming: path) { _ = try SceneReader().plan(href: path, target: try box()) }
    }

    @Test func missingGeoreferencingThrows() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let path = dir.path("nogeo.tif")
        try run("/usr/bin/gdal_create", ["-q", "-of", "GTiff", "-outsize", "16", "16", "-ot", "UInt16", path])
        expectError(.notGeoreferenced, naming: path) { _ = try SceneReader().plan(href: path, target: try box()) }
    }

    @Test func crsOtherThanTheCatalogueSaysThrows() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "zone.tif", width: 16, height: 16, geoTransform: utm, epsg: 32632,
                              data: [UInt16](repeating: 1, count: 256))
        expectError(.crsMismatch, naming: src.path) {
            _ = try SceneReader().plan(href: src.path, target: try box(), expectedEPSG: 32633)
        }
        // The right code passes.
        let plan = try SceneReader().plan(href: src.path, target: try box(), expectedEPSG: 32632)
        #expect(plan.coveredPixels == 256)
    }
}
