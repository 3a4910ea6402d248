import CubeGrid
import CubeSpec
import Foundation
import GDALKit
import Testing

func grid(_ crs: String, _ res: Double, _ bbox: [Double], chunk: Int = 100, bboxCRS: BBoxCRS = .lonLat) throws -> GeoBox {
    try GeoBox.make(GridSpec(crs: crs, resolutionX: res, resolutionY: res, bbox: bbox, bboxCRS: bboxCRS, chunk: chunk))
}

@Test func snapsOutwardToTheCRSLattice() throws {
    let g = try grid("EPSG:32632", 10, [600_005, 4_999_995, 600_995, 5_001_001], bboxCRS: .grid)
    #expect(g.ix0 == 60_000)
    #expect(g.iy0 == 500_101)
    #expect(g.left == 600_000)
    #expect(g.top == 5_001_010)
    #expect(g.width == 100)
    #expect(g.right == 601_000)
    #expect(g.bottom == 4_999_990)
    #expect(g.height == 102)
}

@Test func bboxOnTheLatticeIsNotWidenedByRoundingNoise() throws {
    // 12.1 and 45.3 are not exact in binary, and 1/3600 is not either.
    let g = try grid("EPSG:4326", 1.0 / 3600, [12.1, 45.3, 12.2, 45.4])
    #expect(g.width == 360)
    #expect(g.height == 360)
    #expect(g.ix0 == 43_560)
    #expect(g.iy0 == 163_440)
}

@Test func pixelCentresComeFromIntegers() throws {
    let g = try grid("EPSG:4326", 1.0 / 3600, [12.0, 45.0, 12.5, 45.5], chunk: 600)
    #expect(g.x(0) == (43_200 + 0.5) / 3600)
    #expect(g.y(0) == (163_800 - 0.5) / 3600)
    #expect(abs(g.x(1799) - (12.5 - 0.5 / 3600)) < 1e-12)
    // A chunk's own box has the same centres as the parent grid.
    let sub = g.chunkBox(cy: 1, cx: 2)
    #expect(sub.x(0) == g.x(1200))
    #expect(sub.y(0) == g.y(600))
    #expect(sub.geoTransform.a == Double(g.ix0 + 1200) * (1.0 / 3600))
}

@Test func twoCubesOnTheSameLatticeAlignPixelForPixel() throws {
    let a = try grid("EPSG:32633", 20, [12.3, 45.1, 12.9, 45.6])
    let b = try grid("EPSG:32633", 20, [12.5, 44.9, 13.1, 45.3])
    let dx = (b.left - a.left) / 20, dy = (a.top - b.top) / 20
    #expect(dx == dx.rounded())
    #expect(dy == dy.rounded())
    #expect(b.x(0) == a.x(b.ix0 - a.ix0))
}

@Test func chunkWindowsTileTheGridWithPartialEdges() throws {
    let g2 = try grid("EPSG:32632", 1, [600_000, 5_000_000, 602_550, 5_001_230], chunk: 1000, bboxCRS: .grid)
    #expect(g2.chunkRows == 2 && g2.chunkCols == 3)
    #expect(g2.chunkWindow(cy: 0, cx: 0) == PixelWindow(col: 0, row: 0, width: 1000, height: 1000))
    #expect(g2.chunkWindow(cy: 1, cx: 2) == PixelWindow(col: 2000, row: 1000, width: 550, height: 230))
    var area = 0
    for cy in 0..<g2.chunkRows { for cx in 0..<g2.chunkCols { area += g2.chunkWindow(cy: cy, cx: cx).pixelCount } }
    #expect(area == g2.width * g2.height)
}

@Test func lonLatBBoxIsFullyInsideAUTMGrid() throws {
    let bbox = [11.8, 45.0, 12.6, 45.6]
    let g = try grid("EPSG:32632", 10, bbox)
    let toUTM = try CoordinateTransform(from: .wgs84, to: try SpatialReference("EPSG:32632"))
    // Every point of the lon/lat box (edges densified) lies inside the grid.
    for i in 0...20 {
        let t = Double(i) / 20
        for (lon, lat) in [(bbox[0] + t * 0.8, bbox[1]), (bbox[0] + t * 0.8, bbox[3]), (bbox[0], bbox[1] + t * 0.6), (bbox[2], bbox[1] + t * 0.6)] {
            let p = toUTM.transform([(lon, lat)])[0]
            #expect(p.x >= g.left && p.x <= g.right && p.y >= g.bottom && p.y <= g.top)
        }
    }
}

@Test func footprintsOfProjectedChunks() throws {
    for crs in ["EPSG:32632", "EPSG:3035"] {
        let g = try grid(crs, 100, [11.0, 45.0, 13.0, 46.0], chunk: 256)
        let fp = try g.lonLatFootprint(g.chunkWindow(cy: 0, cx: 0), densify: 8)
        #expect(fp.ring.count == 33)
        #expect(fp.ring.first! == fp.ring.last!)
        #expect(fp.west < fp.east && fp.south < fp.north)
        // The top-left chunk sits in the north-west of the area (with a little slack for the
        // outward widening of a projected bbox).
        #expect(abs(fp.north - 46.0) < 0.2)
        #expect(abs(fp.west - 11.0) < 0.3)
        // The chunk centre maps back into its footprint box.
        let w = g.chunkWindow(cy: 0, cx: 0)
        let c = try g.crs.transform(to: .lonLat).transform([(g.x(w.col + w.width / 2), g.y(w.row + w.height / 2))])[0]
        #expect(c.x > fp.west && c.x < fp.east && c.y > fp.south && c.y < fp.north)
    }
}

@Test func geographicFootprintIsTheChunkRectangle() throws {
    let g = try grid("EPSG:4326", 0.01, [10, 40, 11, 41], chunk: 50)
    let fp = try g.lonLatFootprint(g.chunkWindow(cy: 1, cx: 1))
    #expect(abs(fp.west - 10.5) < 1e-12 && abs(fp.east - 11.0) < 1e-12)
    #expect(abs(fp.north - 40.5) < 1e-12 && abs(fp.south - 40.0) < 1e-12)
}

@Test func gridErrorsNameTheirField() {
    func err(_ s: GridSpec) -> SpecError? {
        do { _ = try GeoBox.make(s); return nil } catch { return error as? SpecError }
    }
    #expect(err(GridSpec(crs: "EPSG:999999", resolutionX: 1, resolutionY: 1, bbox: [0, 0, 1, 1], chunk: 16))?.field == "grid.crs")
    #expect(err(GridSpec(crs: "not a crs", resolutionX: 1, resolutionY: 1, bbox: [0, 0, 1, 1], chunk: 16))?.field == "grid.crs")
    #expect(err(GridSpec(crs: "EPSG:4326", resolutionX: 0.1, resolutionY: 0.1, bbox: [0, 0, 1, 1], chunk: 64))?.field == "grid.chunk")
    #expect(err(GridSpec(crs: "EPSG:4326", resolutionX: 1e-9, resolutionY: 1e-9, bbox: [0, 0, 10, 10], chunk: 64))?.field == "grid.resolution")
    // A polar box cannot be expressed in a UTM zone.
    #expect(err(GridSpec(crs: "EPSG:32632", resolutionX: 10, resolutionY: 10, bbox: [-180, 85, 180, 90], chunk: 64))?.field == "grid.bbox")
}

@Test func crsFacts() throws {
    #expect(try CRS("EPSG:4326").isGeographic)
    #expect(try CRS("EPSG:32632").epsg == 32632)
    #expect(try CRS("3035").epsg == 3035)
    let wkt = try SpatialReference("EPSG:32633").wkt1
    #expect(try CRS(wkt).epsg == 32633)
    #expect(try CRS("+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs").reference.isProjected)
}
