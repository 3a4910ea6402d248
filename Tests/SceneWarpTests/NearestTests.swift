import CubeGrid
import Foundation
import GDALKit
@testable import SceneWarp
import Testing

/// A 10 m UTM 32N source near 45°N, 9°E: 600 × 600 pixels (6 km).
private let utmOrigin = GeoTransform(500_000, 10, 0, 5_000_040, 0, -10)

private func utmBox(col: Int, row: Int, width: Int, height: Int) throws -> GeoBox {
    // Same lattice as the source: left edge 500 000 m = 50 000 × 10 m, top 5 000 040 m.
    try GeoBox(crs: CRS("EPSG:32632"), resolutionX: 10, resolutionY: 10, ix0: 50_000 + col,
               iy0: 500_004 - row, width: width, height: height, chunk: 256)
}

/// A lon/lat grid at 1/3600° over the source (straddling its southern edge).
private func lonLatBox(resolution: Double = 1.0 / 3600, lon: Double = 9.01, lat: Double = 45.14,
                       width: Int = 200, height: Int = 150) -> GeoBox {
    GeoBox(crs: .lonLat, resolutionX: resolution, resolutionY: resolution,
           ix0: Int((lon / resolution).rounded(.down)), iy0: Int((lat / resolution).rounded(.up)),
           width: width, height: height, chunk: 256)
}

@Suite struct NearestTests {
    @Test func sameCRSAlignedGridCopiesTheWindow() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "b04.tif", width: 400, height: 300, geoTransform: utmOrigin,
                              epsg: 32632, data: randomSamples(400 * 300, seed: 1, maxValue: UInt16(10_000)))
        let reader = SceneReader()
        let target = try utmBox(col: 50, row: 20, width: 100, height: 80)
        let plan = try reader.plan(href: src.path, target: target)
        #expect(plan.window == PixelWindow(col: 50, row: 20, width: 100, height: 80))
        #expect(plan.coveredPixels == 100 * 80)
        #expect(plan.windowBytes == 100 * 80 * 2)

        let out: [UInt16] = try reader.read(plan)
        var mismatches = 0
        for r in 0..<80 { for c in 0..<100 where out[r * 100 + c] != src[20 + r, 50 + c] { mismatches += 1 } }
        #expect(mismatches == 0)
        // Decoded tile by tile: the one 256 x 256 block holding the window.
        #expect(reader.stats.pixelsRead == 256 * 256)
        #expect(reader.stats.tilePlanes == 1)
        #expect(reader.stats.centreTransforms == 1)
    }

    @Test(arguments: [1.0 / 3600, 1.0 / 36000])
    func utmToLonLatMatchesPyprojEverywhere(resolution: Double) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "b08.tif", width: 600, height: 600, geoTransform: utmOrigin,
                              epsg: 32632, data: randomSamples(600 * 600, seed: 2, maxValue: UInt16(60_000)))
        let target = resolution > 1e-4 ? lonLatBox(resolution: resolution)
                                       : lonLatBox(resolution: resolution, lon: 9.03, lat: 45.12, width: 300, height: 300)
        let out: [UInt16] = try SceneReader().read(href: src.path, target: target)
        let expected = try pyprojReference(source: src.path, sourceEPSG: 32632, target: target, in: dir, as: UInt16.self)

        #expect(out.count == expected.count)
        let mismatches = zip(out, expected).filter { $0 != $1 }.count
        #expect(mismatches == 0, "\(mismatches) of \(out.count) pixels differ from the pyproj reference")
        // The comparison means something: most pixels are covered (non-zero).
        #expect(out.filter { $0 != 0 }.count > out.count * 9 / 10)
    }

    @Test func windowStraddlingTheSourceEdgeIsZeroOutside() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = try makeCOG(in: dir, name: "edge.tif", width: 200, height: 200, geoTransform: utmOrigin,
                              epsg: 32632, data: randomSamples(200 * 200, seed: 3, maxValue: UInt16(10_000)))
        let reader = SceneReader()
        // 30 columns left of and 40 rows above the source's top-left corner.
        let target = try utmBox(col: -30, row: -40, width: 100, height: 100)
        let plan = try reader.plan(href: src.path, target: target)
        #expect(plan.window == PixelWindow(col: 0, row: 0, width: 70, height: 60))
        #expect(plan.coveredPixels == 70 * 60)

        let out: [UInt16] = try reader.read(plan)
        var wrong = 0
        for r in 0..<100 {
            for c in 0..<100 {
                let (sr, sc) = (r - 40, c - 30)
                let want: UInt16 = sr >= 0 && sc >= 0 ? src[sr, sc] : 0
                if out[r * 100 + c] != want { wrong += 1 }
            }
        }
        #expect(wrong == 0)

        // Entirely outside: empty plan, zeros, nothing read.
        let away = try reader.plan(href: src.path, target: utmBox(col: 500, row: 0, width: 50, height: 50))
        #expect(away.isEmpty)
        #expect(away.window == nil)
        let zeros: [UInt16] = try reader.read(away)
        #expect(zeros.count == 2500 && zeros.allSatisfy { $0 == 0 })
        #expect(reader.stats.planesRead == 1)
    }

    @Test func maskAt20mAndBandAt10mShareTheCentres() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let band = try makeCOG(in: dir, name: "b02.tif", width: 600, height: 600, geoTransform: utmOrigin,
                               epsg: 32632, data: randomSamples(600 * 600, seed: 4, maxValue: UInt16(10_000)))
        let maskGT = GeoTransform(utmOrigin.a, 20, 0, utmOrigin.d, 0, -20)
        let mask = try makeCOG(in: dir, name: "scl.tif", width: 300, height: 300, geoTransform: maskGT,
                               epsg: 32632, data: randomSamples(300 * 300, seed: 5, maxValue: UInt8(11)))
        let reader = SceneReader()
        let target = lonLatBox()
        let maskPlan = try reader.plan(href: mask.path, target: target)
        let bandPlan = try reader.plan(href: band.path, target: target)
        // The 20 m window is half the 10 m one (give or take the edge pixel).
        let mw = try #require(maskPlan.window), bw = try #require(bandPlan.window)
        #expect(abs(mw.width * 2 - bw.width) <= 2 && abs(mw.height * 2 - bw.height) <= 2)
        #expect(maskPlan.coveredPixels == bandPlan.coveredPixels)

        let scl: [UInt8] = try reader.read(maskPlan)
        let b02: [UInt16] = try reader.read(bandPlan)
        let sclRef = try pyprojReference(source: mask.path, sourceEPSG: 32632, target: target, in: dir, as: UInt8.self)
        let b02Ref = try pyprojReference(source: band.path, sourceEPSG: 32632, target: target, in: dir, as: UInt16.self)
        #expect(scl == sclRef)
        #expect(b02 == b02Ref)
        // One exact transform for both (same CRS); one index map per lattice.
        #expect(reader.stats.centreTransforms == 1)
        #expect(reader.stats.indexMapsBuilt == 2)
        // Planning again is served from the caches.
        _ = try reader.plan(href: band.path, target: target)
        #expect(reader.stats.indexMapsBuilt == 2 && reader.stats.datasetsOpened == 2)
    }

    @Test func sourceNoDataBecomesZero() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        var data = randomSamples(100 * 100, seed: 6, maxValue: UInt16(10_000))
        for i in stride(from: 0, to: data.count, by: 7) { data[i] = 65_535 }
        let src = try makeCOG(in: dir, name: "nd.tif", width: 100, height: 100, geoTransform: utmOrigin,
                              epsg: 32632, data: data, noData: 65_535)
        let out: [UInt16] = try SceneReader().read(href: src.path, target: utmBox(col: 0, row: 0, width: 100, height: 100))
        let expected = data.map { $0 == 65_535 ? 0 : $0 }
        #expect(out == expected)
    }
}
