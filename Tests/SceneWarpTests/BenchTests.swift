import CubeGrid
import Foundation
import GDALKit
import SceneWarp
import Testing

/// Timing of the nearest path against GDAL's own decode of the same window. Off by default;
/// run with `SCENEWARP_BENCH=1` (ideally in a release build) and read the printed line.
@Suite struct BenchTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SCENEWARP_BENCH"] != nil))
    func nearestCostComparedWithDecode() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let n = 4096
        let src = try makeCOG(in: dir, name: "big.tif", width: n, height: n,
                              geoTransform: GeoTransform(500_000, 10, 0, 5_000_040, 0, -10), epsg: 32632,
                              data: randomSamples(n * n, seed: 11, maxValue: UInt16(10_000)))
        let res = 1.0 / 3600
        let target = GeoBox(crs: .lonLat, resolutionX: res, resolutionY: res, ix0: Int((9.05 / res).rounded(.down)),
                            iy0: Int((45.10 / res).rounded(.up)), width: 1024, height: 1024, chunk: 1024)
        func time(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        let reader = SceneReader()
        var plan: ReadPlan?
        let firstPlan = try time { plan = try reader.plan(href: src.path, target: target) }
        let cachedPlan = try time { plan = try reader.plan(href: src.path, target: target) }
        let p = try #require(plan)
        let w = try #require(p.window)
        var out = [UInt16](repeating: 0, count: target.width * target.height)
        let read = try time { try out.withUnsafeMutableBufferPointer { try reader.read(p, into: $0) } }

        // Pure GDAL: a fresh dataset decoding the same window.
        var buffer = [UInt16](repeating: 0, count: w.pixelCount)
        let decode = try time {
            let ds = try Dataset(path: src.path)
            try buffer.withUnsafeMutableBufferPointer {
                try ds.band(1).read(x: w.col, y: w.row, width: w.width, height: w.height, into: $0)
            }
        }
        print("bench: target 1024² ← window \(w.width)x\(w.height): first plan \(firstPlan)s, cached plan \(cachedPlan)s, read+gather \(read)s, GDAL decode \(decode)s")
        #expect(out.allSatisfy { $0 != 0 })
    }
}
