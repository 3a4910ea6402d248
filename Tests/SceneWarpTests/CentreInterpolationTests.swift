import CubeGrid
import Foundation
import GDALKit
@testable import SceneWarp
import Testing

/// Interpolated centres (exact PROJ every 16th pixel, exact again near pixel edges) must pick
/// the very same source pixel as exact PROJ for every target pixel.
@Suite struct CentreInterpolationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let targetCRS: String, resolution: Double, ix0: Int, iy0: Int, size: Int
        let sourceEPSG: Int
        let source: (x: Double, y: Double, pixel: Double, width: Int)
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "lon/lat 1″ onto UTM 32 at 10 m", targetCRS: "EPSG:4326", resolution: 1.0 / 3600,
             ix0: Int(9.7 * 3600), iy0: Int(45.9 * 3600), size: 1200, sourceEPSG: 32632,
             source: (499_980, 5_100_040, 10, 10_980)),
        Case(name: "lon/lat 1″ onto UTM 33 at 20 m (far from the central meridian)", targetCRS: "EPSG:4326",
             resolution: 1.0 / 3600, ix0: Int(12.55 * 3600), iy0: Int(45.78 * 3600), size: 1200, sourceEPSG: 32633,
             source: (299_960, 5_100_040, 20, 5490)),
        Case(name: "lon/lat 0.1″ (many centres per pixel)", targetCRS: "EPSG:4326", resolution: 1.0 / 36000,
             ix0: Int(9.71 * 36000), iy0: Int(45.81 * 36000), size: 700, sourceEPSG: 32632,
             source: (499_980, 5_100_040, 10, 10_980)),
        Case(name: "UTM 32 at 10 m onto UTM 33 at 10 m (across zones)", targetCRS: "EPSG:32632", resolution: 10,
             ix0: 78_000, iy0: 505_000, size: 900, sourceEPSG: 32633, source: (299_960, 5_100_040, 10, 10_980)),
        Case(name: "LAEA Europe at 30 m onto UTM 32", targetCRS: "EPSG:3035", resolution: 30,
             ix0: 4_300_000 / 30, iy0: 2_550_000 / 30, size: 800, sourceEPSG: 32632,
             source: (500_000, 5_100_040, 10, 10_980)),
    ]

    @Test(arguments: cases)
    func interpolatedPicksEqualExactPicks(c: Case) throws {
        let target = try GeoBox(crs: CRS(c.targetCRS), resolutionX: c.resolution, resolutionY: c.resolution,
                                ix0: c.ix0, iy0: c.iy0, width: c.size, height: c.size * 3 / 4, chunk: c.size)
        let sourceRef = try SpatialReference.epsg(c.sourceEPSG)
        let transform = try CoordinateTransform(from: target.crs.reference, to: sourceRef)
        let grid = SourceGrid(crsWKT: sourceRef.wkt2,
                              geoTransform: GeoTransform(c.source.x, c.source.pixel, 0, c.source.y, 0, -c.source.pixel),
                              width: c.source.width, height: c.source.width)
        let exactCentres = SourceCentres(target: target, transform: transform, interpolate: false)
        let fastCentres = SourceCentres(target: target, transform: transform)
        #expect(exactCentres.tolerance == 0)
        #expect(fastCentres.tolerance > 0, "interpolation was not used")
        #expect(fastCentres.tolerance < c.source.pixel * 5e-3)
        let exact = IndexMap(centres: exactCentres, grid: grid, transform: transform)
        let fast = IndexMap(centres: fastCentres, grid: grid, transform: transform)
        #expect(exact.coveredCount > exact.indices.count / 2, "the case does not overlap its source")
        #expect(fast.window == exact.window)
        #expect(fast.coveredCount == exact.coveredCount)
        let differing = zip(fast.indices, exact.indices).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) picks differ")
        // Refinement is a small fraction (else the interpolation would save nothing).
        #expect(fast.refinedCount < fast.indices.count / 20)

        // The refinement is what makes it exact: used as interpolated, some picks move.
        let unrefined = IndexMap(centres: fastCentres, grid: grid, transform: nil, refine: false)
        let moved = zip(unrefined.indices, exact.indices).filter { $0 != $1 }.count
        // (1″ onto 10–20 m: about 100 of 1.08 M picks; finer grids have much smaller errors.)
        if c.resolution == 1.0 / 3600 { #expect(moved > 0) }
    }

    @Test func failingPointsFallBackToExactEverywhere() throws {
        // A lon/lat grid reaching beyond UTM 32's valid range still gets finite or infinite
        // centres, exactly as without interpolation.
        let target = GeoBox(crs: .lonLat, resolutionX: 0.01, resolutionY: 0.01, ix0: -18000, iy0: 8900,
                            width: 200, height: 50, chunk: 200)
        let transform = try CoordinateTransform(from: CRS.lonLat.reference, to: SpatialReference.epsg(32632))
        let exact = SourceCentres(target: target, transform: transform, interpolate: false)
        let fast = SourceCentres(target: target, transform: transform)
        for i in exact.xs.indices {
            #expect(exact.xs[i] == fast.xs[i] || (exact.xs[i].isInfinite && fast.xs[i].isInfinite))
        }
    }
}
