import CubeGrid
import CubePlan
import CubeSpec
import Foundation
import Testing

func spec(_ crs: String, _ res: Double, _ bbox: [Double], chunk: Int, land: LandMaskSource = .embedded) -> CubeSpec {
    CubeSpec(name: "t", stac: .file(path: "x.json", collections: [], maxCloudCover: nil),
             grid: GridSpec(crs: crs, resolutionX: res, resolutionY: res, bbox: bbox, chunk: chunk),
             time: TimeSpec(start: Date(timeIntervalSince1970: 1_704_067_200), end: Date(timeIntervalSince1970: 1_709_251_200)),
             bands: [BandSpec(asset: "red")], landMask: land, store: "t.zarr")
}

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

@Test func venetianCoastHasLandAndOcean() throws {
    // 0.05° chunks over the Venice coast: land to the west, the open Adriatic to the east.
    let plan = try Plan.make(spec("EPSG:4326", 0.001, [12.0, 45.0, 13.0, 45.5], chunk: 50))
    #expect(plan.grid.chunkRows == 10 && plan.grid.chunkCols == 20)
    #expect(plan.bins.count == 3)  // Jan, Feb, Mar (end is 2024-03-01)
    #expect(plan.isLand(cy: 0, cx: 0))       // 12.0-12.05 E, 45.45-45.5 N: mainland
    #expect(!plan.isLand(cy: 9, cx: 19))     // 12.95-13.0 E, 45.0-45.05 N: sea
    #expect(plan.landChunkCount > 0 && plan.oceanChunkCount > 0)
    #expect(plan.jobCount == plan.landChunkCount * 3)
}

/// No land pixel may ever be skipped: every mask pixel that is land lies in a land chunk.
@Test func noLandPixelIsSkipped() throws {
    let s = spec("EPSG:4326", 0.002, [12.0, 44.9, 13.2, 45.7], chunk: 20)
    let plan = try Plan.make(s)
    let mask = try LandMask.embedded()
    // Check each mask pixel inside the grid: its centre's chunk must be land.
    let g = plan.grid
    guard let strip = try mask.strip(west: g.left, south: g.bottom, east: g.right, north: g.top, margin: 0) else {
        Issue.record("no mask strip"); return
    }
    var checked = 0
    let p = 1.0 / 120
    var lat = (g.top / p).rounded(.down) * p - p / 2
    while lat > g.bottom {
        var lon = (g.left / p).rounded(.down) * p + p / 2
        while lon < g.right {
            if lon > g.left, lat < g.top, mask.anyLand(in: strip, west: lon, south: lat, east: lon, north: lat, margin: 0) {
                let col = Int((lon - g.left) / g.resolutionX), row = Int((g.top - lat) / g.resolutionY)
                #expect(plan.isLand(cy: row / g.chunk, cx: col / g.chunk), "land at \(lon), \(lat)")
                checked += 1
            }
            lon += p
        }
        lat -= p
    }
    #expect(checked > 1000)
}

@Test func projectedGridPlansAndKeepsCoast() throws {
    let plan = try Plan.make(spec("EPSG:32633", 500, [12.0, 44.8, 13.5, 45.8], chunk: 16))
    #expect(plan.landChunkCount > 0 && plan.oceanChunkCount > 0)
    let wgs = spec("EPSG:3035", 1000, [12.0, 44.8, 13.5, 45.8], chunk: 16)
    let p3035 = try Plan.make(wgs)
    #expect(p3035.landChunkCount > 0)
}

@Test func openOceanHasNoLandAndNoneMaskKeepsAll() throws {
    let ocean = try Plan.make(spec("EPSG:4326", 0.01, [-30, -30, -29, -29], chunk: 20))
    #expect(ocean.landChunkCount == 0)
    let all = try Plan.make(spec("EPSG:4326", 0.01, [-30, -30, -29, -29], chunk: 20, land: .none))
    #expect(all.landChunkCount == all.grid.chunkCount)
}

@Test func vectorLandMaskAgreesOnTheBigPicture() throws {
    let vector = repoRoot.appendingPathComponent("Sources/CubePlan/Resources/ne_110m_land.geojson").path
    let plan = try Plan.make(spec("EPSG:4326", 0.05, [5, 35, 25, 50], chunk: 20, land: .path(vector)))
    // Central Italy is land; the middle of the Tyrrhenian sea is not.
    let g = plan.grid
    func chunk(_ lon: Double, _ lat: Double) -> (Int, Int) {
        (Int((g.top - lat) / g.resolutionY) / g.chunk, Int((lon - g.left) / g.resolutionX) / g.chunk)
    }
    let italy = chunk(12.5, 42.5), sea = chunk(11.5, 39.5)
    #expect(plan.isLand(cy: italy.0, cx: italy.1))
    #expect(!plan.isLand(cy: sea.0, cx: sea.1))
}

@Test func planFileRoundTrips() throws {
    let plan = try Plan.make(spec("EPSG:32632", 100, [11.5, 45.0, 12.5, 45.6], chunk: 32))
    let back = try Plan.decode(try plan.encoded())
    #expect(back == plan)
    #expect(throws: PlanError.self) { try Plan.decode(Data("{}".utf8)) }
}

@Test func missingLandMaskFileIsASpecError() {
    #expect(throws: SpecError.self) {
        try Plan.make(spec("EPSG:4326", 0.01, [0, 0, 1, 1], chunk: 20, land: .path("/nonexistent/land.tif")))
    }
}
