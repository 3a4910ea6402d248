import CubeGrid
import Foundation
import GDALKit
import SceneWarp
import Testing

@Suite struct ResamplingTests {
    private let utm = GeoTransform(500_000, 10, 0, 5_000_040, 0, -10)

    /// A 1/3600° lon/lat target over part of the source.
    private var target: GeoBox {
        let res = 1.0 / 3600
        return GeoBox(crs: .lonLat, resolutionX: res, resolutionY: res, ix0: Int((9.01 / res).rounded(.down)),
                      iy0: Int((45.12 / res).rounded(.up)), width: 120, height: 100, chunk: 256)
    }

    @Test func bilinearAgreesWithGdalwarpExact() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "b03.tif", width: 600, height: 600, geoTransform: utm,
                              epsg: 32632, data: randomSamples(600 * 600, seed: 7, maxValue: UInt16(10_000)))
        let t = target
        let reader = SceneReader()
        let plan = try reader.plan(href: src.path, target: t, resampling: .bilinear)
        let out: [UInt16] = try reader.read(plan)

        let reference = dir.path("gdalwarp.tif")
        try run("/usr/bin/gdalwarp", ["-q", "-of", "GTiff", "-r", "bilinear", "-et", "0", "-ovr", "NONE",
                                      "-t_srs", "EPSG:4326", "-te", "\(t.left)", "\(t.bottom)", "\(t.right)", "\(t.top)",
                                      "-ts", "\(t.width)", "\(t.height)", "-srcnodata", "0", "-dstnodata", "0",
                                      src.path, reference])
        let ref = try readWhole(reference, as: UInt16.self)
        #expect(ref.width == t.width && ref.height == t.height)
        let worst = zip(out, ref.data).map { abs(Int($0) - Int($1)) }.max() ?? -1
        #expect(worst >= 0 && worst <= 1, "largest difference to gdalwarp: \(worst)")
        #expect(out.filter { $0 != 0 }.count > out.count / 2)
        // Bilinear smooths random data: it is not the nearest plane.
        let nearest: [UInt16] = try reader.read(href: src.path, target: t)
        #expect(nearest != out)
    }

    @Test func averageDownsamplesWithGDAL() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        // A constant field keeps the expectation simple: the average of 500s is 500.
        let src = try makeCOG(in: dir, name: "flat.tif", width: 600, height: 600, geoTransform: utm,
                              epsg: 32632, data: [UInt16](repeating: 500, count: 600 * 600))
        let res = 1.0 / 360  // ~300 m × 200 m target pixels: many source pixels each
        let t = GeoBox(crs: .lonLat, resolutionX: res, resolutionY: res, ix0: Int((9.0 / res).rounded(.down)),
                       iy0: Int((45.13 / res).rounded(.up)), width: 30, height: 20, chunk: 256)
        let reader = SceneReader()
        let plan = try reader.plan(href: src.path, target: t, resampling: .average)
        let out: [UInt16] = try reader.read(plan)
        let covered = out.filter { $0 != 0 }
        #expect(covered.count >= 50)
        #expect(covered.allSatisfy { $0 == 500 })
        // The estimated window includes the footprint margin around the nearest window.
        let nearestWindow = try #require(reader.plan(href: src.path, target: t).window)
        let window = try #require(plan.window)
        #expect(window.pixelCount > nearestWindow.pixelCount)
    }
}
