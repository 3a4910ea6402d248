import CubeGrid
import Foundation
import GDALKit
@testable import SceneWarp
import Testing

/// The tile-by-tile read (stored blocks fetched as byte ranges and decoded here) against
/// GDAL's own RasterIO on files GDAL wrote in every layout the fast path accepts, and in some
/// it must hand back to GDAL.
private let utm = GeoTransform(500_000, 10, 0, 5_000_040, 0, -10)
private let width = 700, height = 530  // not multiples of any block size: partial edge blocks

private func lonLat(width: Int = 180, height: Int = 140) -> GeoBox {
    let r = 1.0 / 3600
    return GeoBox(crs: .lonLat, resolutionX: r, resolutionY: r, ix0: Int((9.0 / r).rounded(.down)) + 5,
                  iy0: Int((45.15 / r).rounded(.up)), width: width, height: height, chunk: 256)
}

private func sameGrid() throws -> GeoBox {
    try GeoBox(crs: CRS("EPSG:32632"), resolutionX: 10, resolutionY: 10, ix0: 50_000 + 3,
               iy0: 500_004 - 2, width: width - 5, height: height - 4, chunk: 256)
}

/// Writes `data` with the GTiff driver and `options` (via a plain file and gdal_translate).
private func write<T: RasterElement>(_ data: [T], options: [String], noData: Double? = nil,
                                     in dir: TempDir, name: String) throws -> String {
    let plain = dir.path(name + ".plain.tif"), out = dir.path(name)
    try RasterWriter.writeGeoTIFF(path: plain, width: width, height: height, data: data, geoTransform: utm,
                                  crs: try SpatialReference.epsg(32632), noData: noData)
    try RasterWriter.translate(plain, to: out, format: "GTiff", creationOptions: options)
    return out
}

/// Reads `path` onto `target` both ways and returns (tile path, GDAL path, tile planes used).
private func bothWays<T: WarpSample>(_ path: String, _ target: GeoBox, as: T.Type,
                                     needed: [UInt8]? = nil) throws -> ([T], [T], Int) {
    func read(_ tiles: Bool) throws -> ([T], SceneReader) {
        let reader = SceneReader()
        reader.readsTiles = tiles
        let plan = try reader.plan(href: path, target: target)
        var out = [T](repeating: 7, count: plan.targetPixels)
        try out.withUnsafeMutableBufferPointer { o in
            if let needed {
                try needed.withUnsafeBufferPointer { try reader.read(plan, into: o, needed: $0) }
            } else {
                try reader.read(plan, into: o)
            }
        }
        return (out, reader)
    }
    let (fast, fastReader) = try read(true)
    let (gdal, gdalReader) = try read(false)
    #expect(gdalReader.stats.tilePlanes == 0)
    return (fast, gdal, fastReader.stats.tilePlanes)
}

@Suite struct TileReadTests {
    static let layouts: [(String, [String])] = [
        ("deflate-predictor2", ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=128", "COMPRESS=DEFLATE", "PREDICTOR=2"]),
        ("deflate", ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "COMPRESS=DEFLATE", "ZLEVEL=9"]),
        ("uncompressed", ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]),
        ("big-endian", ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "ENDIANNESS=BIG"]),
        ("strips", ["TILED=NO", "BLOCKYSIZE=7", "COMPRESS=DEFLATE", "PREDICTOR=2"]),
    ]

    @Test(arguments: layouts)
    func uint16LayoutsMatchGDAL(layout: (String, [String])) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 11, maxValue: UInt16(60_000))
        let path = try write(data, options: layout.1, in: dir, name: "\(layout.0).tif")
        // Same grid: every target pixel is a known source sample.
        let grid = try sameGrid()
        let (fast, gdal, tiles) = try bothWays(path, grid, as: UInt16.self)
        #expect(tiles == 1, "\(layout.0) was not read tile by tile")
        #expect(fast == gdal)
        var wrong = 0
        for r in 0..<grid.height { for c in 0..<grid.width where fast[r * grid.width + c] != data[(r + 2) * width + c + 3] { wrong += 1 } }
        #expect(wrong == 0)
        // Reprojected: the same picks as GDAL's window read, coverage included.
        let (fast2, gdal2, _) = try bothWays(path, lonLat(), as: UInt16.self)
        #expect(fast2 == gdal2)
        #expect(fast2.filter { $0 != 0 }.count > fast2.count / 2)
    }

    @Test(arguments: ["1", "2"])
    func uint8MaskMatchesGDAL(predictor: String) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 12, maxValue: UInt8(11))
        let path = try write(data, options: ["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64", "COMPRESS=DEFLATE",
                                             "PREDICTOR=\(predictor)"], in: dir, name: "scl.tif")
        let (fast, gdal, tiles) = try bothWays(path, lonLat(), as: UInt8.self)
        #expect(tiles == 1)
        #expect(fast == gdal)
    }

    /// Sparse blocks (and offsets GDAL cannot read, as in a truncated file) are GDAL's to
    /// read: it alone tells a never-written block from a broken file.
    @Test func sparseBlocksGoThroughGDAL() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        var data = randomSamples(width * height, seed: 13, maxValue: UInt16(10_000))
        // A nodata band across the top (whole blocks: GDAL leaves them unwritten) and scattered nodata.
        for i in 0..<(width * 300) { data[i] = 0 }
        for i in stride(from: width * 300, to: data.count, by: 5) { data[i] = 0 }
        let path = try write(data, options: ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "COMPRESS=DEFLATE",
                                             "SPARSE_OK=TRUE"], noData: 0, in: dir, name: "sparse.tif")
        let band = try Dataset(path: path).band(1)
        #expect(band.tiffBlockLocation(col: 0, row: 0) == nil, "the fixture has no sparse block")
        #expect(band.tiffBlockLocation(col: 0, row: 4) != nil)
        let (fast, gdal, tiles) = try bothWays(path, try sameGrid(), as: UInt16.self)
        #expect(tiles == 0)
        #expect(fast == gdal)
        #expect(fast.contains(0) && fast.contains { $0 != 0 })
    }

    @Test func nonZeroNoDataBecomesZero() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        var data = randomSamples(width * height, seed: 14, maxValue: UInt16(10_000))
        for i in stride(from: 0, to: data.count, by: 3) { data[i] = 65_535 }
        let path = try write(data, options: ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2"], noData: 65_535,
                             in: dir, name: "nd.tif")
        let (fast, gdal, tiles) = try bothWays(path, lonLat(), as: UInt16.self)
        #expect(tiles == 1)
        #expect(fast == gdal)
        #expect(!fast.contains(65_535))
    }

    @Test func onlyBlocksWithNeededPixelsAreDecoded() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 15, maxValue: UInt16(10_000))
        let path = try write(data, options: ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "COMPRESS=DEFLATE"],
                             in: dir, name: "b.tif")
        let target = lonLat()
        // Needed: a small square in the middle of the target.
        var needed = [UInt8](repeating: 0, count: target.width * target.height)
        for r in 60..<70 { for c in 80..<90 { needed[r * target.width + c] = 1 } }
        let (fast, gdal, tiles) = try bothWays(path, target, as: UInt16.self, needed: needed)
        #expect(tiles == 1)
        #expect(fast == gdal)
        for p in needed.indices where needed[p] != 0 { #expect(fast[p] != 0) }
        let reader = SceneReader()
        let plan = try reader.plan(href: path, target: target)
        _ = try needed.withUnsafeBufferPointer { n in
            try [UInt16](unsafeUninitializedCapacity: plan.targetPixels) { b, c in
                try reader.read(plan, into: b, needed: n); c = plan.targetPixels
            }
        }
        #expect(reader.stats.blocksRead >= 1 && reader.stats.blocksRead <= 4)
        #expect(reader.stats.blocksSkipped > reader.stats.blocksRead)
        #expect(reader.stats.pixelsRead == reader.stats.blocksRead * 128 * 128)
    }

    @Test(arguments: [
        ("lzw", ["TILED=YES", "COMPRESS=LZW"]),
        ("float-predictor", ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3"]),
    ])
    func otherLayoutsGoThroughGDAL(layout: (String, [String])) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 16, maxValue: UInt16(10_000))
        // PREDICTOR=3 needs a float type; GDAL refuses it for UInt16, so that case writes Float32.
        let path: String
        if layout.0 == "float-predictor" {
            path = try write(data.map { Float($0) }, options: layout.1, in: dir, name: "f.tif")
        } else {
            path = try write(data, options: layout.1, in: dir, name: "\(layout.0).tif")
        }
        let (fast, gdal, tiles) = try bothWays(path, try sameGrid(), as: UInt16.self)
        #expect(tiles == 0)
        #expect(fast == gdal)
        #expect(fast.filter { $0 != 0 }.count > fast.count / 2)
    }

    @Test(arguments: [600, 0])
    func aTruncatedFileIsAReadErrorNotZeros(cutAt: Int) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 18, maxValue: UInt16(10_000))
        let path = try write(data, options: ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "COMPRESS=DEFLATE",
                                             "PREDICTOR=2"], in: dir, name: "cut.tif")
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        // 600 bytes: inside the tile offsets; 0: in the middle of the tile data.
        let keep = cutAt > 0 ? cutAt : full.count / 2
        try full.prefix(keep).write(to: URL(fileURLWithPath: path))
        let reader = SceneReader()
        guard let plan = try? reader.plan(href: path, target: try sameGrid()) else { return }  // may fail to open: fine
        #expect(throws: SceneWarpError.self) { let _: [UInt16] = try reader.read(plan) }
    }

    @Test func aBrokenTileFallsBackToGDALsError() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 17, maxValue: UInt16(10_000))
        let path = try write(data, options: ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "COMPRESS=DEFLATE"],
                             in: dir, name: "broken.tif")
        // Overwrite the middle of block (1, 1) with garbage.
        let location = try #require(try Dataset(path: path).band(1).tiffBlockLocation(col: 1, row: 1))
        #expect(location.size > 200)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: location.offset + UInt64(location.size / 3))
        handle.write(Data(repeating: 0xFF, count: 64))
        try handle.close()
        let reader = SceneReader()
        let plan = try reader.plan(href: path, target: try sameGrid())
        #expect(throws: SceneWarpError.self) { let _: [UInt16] = try reader.read(plan) }
        #expect(reader.stats.tilePlanes == 0)
    }
}

@Suite struct DecodeHelpTests {
    /// A lane waiting in `serve` while another runs a batch.
    private func withIdleLane(_ help: DecodeHelp, _ body: () throws -> Void) rethrows {
        help.begin()
        help.laneStarted()  // this thread, about to read
        let served = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            help.laneStarted()
            help.laneDone()
            help.serve()
            served.signal()
        }
        while !help.hasIdleLane { usleep(100) }
        defer {
            help.laneDone()
            served.wait()
        }
        try body()
    }

    @Test func idleLaneTakesItemsAndEveryItemRunsOnce() throws {
        let help = DecodeHelp()
        let lock = NSLock()
        var runs = [Int](repeating: 0, count: 40)
        var buffer = GrowableBuffer()
        defer { buffer.free() }
        try withIdleLane(help) {
            try help.run(count: runs.count, decoder: TileDecoder(), buffer: &buffer) { k, _, _ in
                usleep(1000)
                lock.lock(); runs[k] += 1; lock.unlock()
            }
        }
        #expect(runs.allSatisfy { $0 == 1 })
        #expect(help.helped > 0)
    }

    @Test func aFailingItemFailsTheBatchAndTheIdleLaneStillEnds() throws {
        struct Boom: Error {}
        let help = DecodeHelp()
        var buffer = GrowableBuffer()
        defer { buffer.free() }
        withIdleLane(help) {
            #expect(throws: Boom.self) {
                try help.run(count: 20, decoder: TileDecoder(), buffer: &buffer) { k, _, _ in
                    usleep(500)
                    if k == 3 { throw Boom() }
                }
            }
        }
    }

    @Test func tilesDecodedWithAnIdleLaneMatchGDAL() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let data = randomSamples(width * height, seed: 21, maxValue: UInt16(10_000))
        let path = try write(data, options: ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32", "COMPRESS=DEFLATE", "PREDICTOR=2"],
                             in: dir, name: "h.tif")
        let target = lonLat()
        let (_, gdal, _) = try bothWays(path, target, as: UInt16.self)
        let help = DecodeHelp()
        let reader = SceneReader(help: help)
        let plan = try reader.plan(href: path, target: target)
        var out = [UInt16](repeating: 7, count: plan.targetPixels)
        try withIdleLane(help) {
            try out.withUnsafeMutableBufferPointer { try reader.read(plan, into: $0) }
        }
        #expect(reader.stats.tilePlanes == 1)
        #expect(out == gdal)
    }
}

@Suite struct ScenePrefetcherTests {
    private func file(_ dir: TempDir, _ name: String) throws -> String {
        try write(randomSamples(width * height, seed: 5, maxValue: UInt16(1000)), options: ["TILED=YES", "COMPRESS=DEFLATE"],
                  in: dir, name: name)
    }

    private func waitUntil(_ prefetcher: ScenePrefetcher, holds count: Int) {
        let deadline = Date().addingTimeInterval(10)
        while prefetcher.readyCount < count && Date() < deadline { usleep(1000) }
    }

    @Test func readersTakeWhatWasOpenedAheadOnce() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let a = try file(dir, "a.tif"), b = try file(dir, "b.tif"), c = try file(dir, "c.tif")
        let prefetcher = ScenePrefetcher(ahead: 8, threads: 2)
        prefetcher.start([a, b, a, c])
        waitUntil(prefetcher, holds: 3)
        #expect(prefetcher.readyCount == 3)  // a once
        for href in [a, b, c] {
            #expect(prefetcher.take(href) != nil)
            #expect(prefetcher.take(href) == nil)
        }
        // A reader with the prefetcher takes its dataset and reads what a plain reader reads.
        prefetcher.start([a])
        waitUntil(prefetcher, holds: 1)
        let target = lonLat()
        let fast = SceneReader(prefetcher: prefetcher)
        let x: [UInt16] = try fast.read(href: a, target: target)
        let y: [UInt16] = try SceneReader().read(href: a, target: target)
        #expect(x == y)
        #expect(prefetcher.readyCount == 0)
    }

    @Test func atMostAheadDatasetsWait() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let files = try (0..<5).map { try file(dir, "f\($0).tif") }
        let prefetcher = ScenePrefetcher(ahead: 2, threads: 2)
        prefetcher.start(files)
        waitUntil(prefetcher, holds: 2)
        usleep(50_000)
        #expect(prefetcher.readyCount == 2)
        #expect(prefetcher.take(files[0]) != nil)
        waitUntil(prefetcher, holds: 2)
        #expect(prefetcher.take(files[2]) != nil)  // opened once there was room
    }

    @Test func aFailedOpenLeavesTheErrorToTheReader() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let missing = dir.path("missing.tif"), a = try file(dir, "a.tif")
        let prefetcher = ScenePrefetcher()
        prefetcher.start([missing, a])
        waitUntil(prefetcher, holds: 1)
        #expect(prefetcher.take(missing) == nil)
        let reader = SceneReader(prefetcher: prefetcher)
        #expect(throws: SceneWarpError.self) { _ = try reader.plan(href: missing, target: lonLat()) }
    }

    @Test func aNewJobDropsWhatTheLastOneDidNotTake() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let a = try file(dir, "a.tif")
        let prefetcher = ScenePrefetcher()
        prefetcher.start([a])
        waitUntil(prefetcher, holds: 1)
        prefetcher.stop()
        #expect(prefetcher.readyCount == 0)
        #expect(prefetcher.take(a) == nil)
    }
}
