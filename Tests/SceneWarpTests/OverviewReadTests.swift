import CubeGrid
import Foundation
import GDALKit
@testable import SceneWarp
import Testing
import TiffIndex

/// Reading a COG's overview level: the level chosen by `overviews: auto` and `N`, and every
/// pixel of a level read equal to an independent pyproj + numpy sample of that level (rasterio
/// opening the overview), from the indexed header and through GDAL alike.
@Suite struct OverviewReadTests {
    /// 10 m UTM 32N tile with nearest overviews (20, 40, 80 m ...), smooth data with noise.
    static func source(in dir: TempDir) throws -> (path: String, indexed: IndexedAsset) {
        let width = 1500, height = 1300
        var rng = UInt64(7)
        let data: [UInt16] = (0..<(width * height)).map { i in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return UInt16(1 + (i % width) / 4 + (i / width) / 3 + Int(rng >> 60))
        }
        let plain = dir.path("plain.tif"), cog = dir.path("cog.tif")
        try RasterWriter.writeGeoTIFF(path: plain, width: width, height: height, data: data,
                                      geoTransform: GeoTransform(500_000, 10, 0, 5_000_040, 0, -10),
                                      crs: try SpatialReference.epsg(32632), noData: nil)
        try RasterWriter.translate(plain, to: cog, format: "COG",
                                   creationOptions: ["COMPRESS=DEFLATE", "PREDICTOR=2", "BLOCKSIZE=256",
                                                     "OVERVIEWS=AUTO", "OVERVIEW_RESAMPLING=NEAREST"])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: cog)))
        guard case .header(let header) = try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) else {
            throw TestFailure("no header")
        }
        return (cog, IndexedAsset(href: cog, header: header, remote: nil))
    }

    /// 1/3600° near 45° N: about 21.9 m x 30.9 m, so the 20 m level is the coarsest not coarser.
    static func lonLatTarget() -> GeoBox {
        let res = 1.0 / 3600
        return GeoBox(crs: .lonLat, resolutionX: res, resolutionY: res, ix0: Int((9.01 / res).rounded(.down)),
                      iy0: Int((45.14 / res).rounded(.up)), width: 500, height: 330, chunk: 500)
    }

    @Test func autoPicksTheCoarsestLevelNotCoarserThanTheTargetPixel() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (_, indexed) = try Self.source(in: dir)
        #expect(indexed.header.overviews.count >= 2)
        let reader = SceneReader()
        let target = Self.lonLatTarget()
        #expect(try reader.overviewLevel(.auto, chunk: target, indexed: indexed) == 1)
        #expect(try reader.overviewLevel(.none, chunk: target, indexed: indexed) == 0)
        #expect(try reader.overviewLevel(.level(2), chunk: target, indexed: indexed) == 2)
        #expect(try reader.overviewLevel(.level(99), chunk: target, indexed: indexed) == indexed.header.overviews.count)
        #expect(try reader.overviewLevel(.auto, chunk: target, indexed: nil) == 0)
        // A 10 m UTM target (the source's own lattice): full resolution.
        let utm = GeoBox(crs: try CRS("EPSG:32632"), resolutionX: 10, resolutionY: 10, ix0: 50_010, iy0: 499_990,
                         width: 400, height: 300, chunk: 400)
        #expect(try reader.overviewLevel(.auto, chunk: utm, indexed: indexed) == 0)
        // 45 m: the 40 m level; 39.9 m: the 20 m level; the third level is 187 x 162 (80.2 m x 80.2 m).
        for (res, level) in [(45.0, 2), (39.9, 1), (80.0, 2), (80.3, 3), (19.99, 0)] {
            let box = GeoBox(crs: try CRS("EPSG:32632"), resolutionX: res, resolutionY: res,
                             ix0: Int((500_100 / res).rounded(.up)), iy0: Int((5_000_000 / res).rounded(.down)),
                             width: 50, height: 50, chunk: 50)
            let expected = min(level, indexed.header.overviews.count)
            let got = try reader.overviewLevel(.auto, chunk: box, indexed: indexed)
            #expect(got == expected, "\(res) m: \(got), levels \(indexed.header.overviews.map { "\($0.width)x\($0.height)" })")
        }
    }

    @Test(arguments: [1, 2])
    func levelReadEqualsThePyprojSampleOfThatLevel(level: Int) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (path, indexed) = try Self.source(in: dir)
        let target = Self.lonLatTarget()
        let reference = try pyprojReference(source: path, sourceEPSG: 32632, target: target, in: dir, as: UInt16.self,
                                            overviewLevel: level)
        // From the indexed header (tiles decoded by cube) and through GDAL (OVERVIEW_LEVEL).
        for useIndex in [true, false] {
            let reader = SceneReader()
            let plan = try reader.plan(href: path, target: target, indexed: useIndex ? indexed : nil, overview: level)
            #expect(plan.overview == level)
            #expect(plan.source.width == indexed.header.overviews[level - 1].width)
            let got: [UInt16] = try reader.read(plan)
            let differ = zip(got, reference).filter { $0 != $1 }.count
            #expect(differ == 0, "\(differ) of \(got.count) pixels differ (index \(useIndex))")
            #expect(got.filter { $0 != 0 }.count > got.count / 2)
        }
        // The full-resolution read differs (the level is really read).
        let full: [UInt16] = try SceneReader().read(SceneReader().plan(href: path, target: target, indexed: indexed))
        #expect(full != reference)
    }
}
