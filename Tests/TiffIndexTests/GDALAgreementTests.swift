import Foundation
import GDALKit
import Testing
import TiffIndex

/// Files written by GDAL in many layouts: every field of the parsed header must be what GDAL
/// itself reports for the file, every block's offset and size what GDAL's GTiff driver says.
@Suite struct GDALAgreementTests {
    enum SampleType: String, Sendable { case u8, u16, i16, f32 }

    struct Layout: CustomTestStringConvertible, Sendable {
        var name: String
        var type: SampleType = .u16
        var width = 700, height = 530
        var epsg = 32632
        var noData: Double? = nil
        /// COG driver creation options, or nil for a file written directly by the GTiff driver.
        var cog: [String]? = nil
        /// GTiff creation options (the plain file, or the only one when `cog` is nil).
        var gtiff: [String] = []
        /// Extra gdal_translate arguments making a derived file from the written one (e.g. `-b 1 -b 1`).
        var translate: [String]? = nil
        var compression = 1
        var predictor = 1
        var bigTIFF = false
        var bigEndian = false
        var geoTransform: GeoTransform? = nil
        var samplesPerPixel = 1
        var planar = 1
        var testDescription: String { name }
    }

    static let layouts: [Layout] = [
        Layout(name: "COG 256 deflate u16", cog: ["BLOCKSIZE=256", "COMPRESS=DEFLATE"], compression: 8),
        Layout(name: "COG 512 deflate pred2 u16 nodata", noData: 0,
               cog: ["BLOCKSIZE=512", "COMPRESS=DEFLATE", "PREDICTOR=2"], compression: 8, predictor: 2),
        Layout(name: "COG 256 none u8", type: .u8, cog: ["BLOCKSIZE=256", "COMPRESS=NONE"]),
        Layout(name: "COG 256 zstd i16 nodata", type: .i16, noData: -9999,
               cog: ["BLOCKSIZE=256", "COMPRESS=ZSTD"], compression: 50000),
        Layout(name: "COG 256 lzw f32 nan 4326", type: .f32, epsg: 4326, noData: .nan,
               cog: ["BLOCKSIZE=256", "COMPRESS=LZW"], compression: 5,
               geoTransform: GeoTransform(11.5, 1.0 / 3600, 0, 46.25, 0, -1.0 / 3600)),
        Layout(name: "COG 256 lzw f32 pred3", type: .f32, noData: -Double(Float.greatestFiniteMagnitude),
               cog: ["BLOCKSIZE=256", "COMPRESS=LZW", "PREDICTOR=3"], compression: 5, predictor: 3),
        Layout(name: "COG BigTIFF 256 deflate u16", cog: ["BLOCKSIZE=256", "COMPRESS=DEFLATE", "BIGTIFF=YES"],
               compression: 8, bigTIFF: true),
        Layout(name: "COG BigTIFF 512 none u8 4326", type: .u8, width: 1100, height: 600, epsg: 4326, noData: 255,
               cog: ["BLOCKSIZE=512", "COMPRESS=NONE", "BIGTIFF=YES"], bigTIFF: true,
               geoTransform: GeoTransform(-180, 0.1, 0, 90, 0, -0.1)),
        Layout(name: "COG with overviews", width: 1500, height: 1300,
               cog: ["BLOCKSIZE=256", "COMPRESS=DEFLATE", "OVERVIEWS=AUTO"], compression: 8),
        Layout(name: "COG with overviews, predictor 2, 512 blocks", width: 2100, height: 1700,
               cog: ["BLOCKSIZE=512", "COMPRESS=DEFLATE", "PREDICTOR=2", "OVERVIEWS=AUTO", "OVERVIEW_RESAMPLING=NEAREST"],
               compression: 8, predictor: 2),
        Layout(name: "GTiff tiled deflate", gtiff: ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=64", "COMPRESS=DEFLATE"],
               compression: 8),
        Layout(name: "GTiff stripped u16", gtiff: []),
        Layout(name: "GTiff stripped 7 rows lzw u8 nodata", type: .u8, noData: 0,
               gtiff: ["BLOCKYSIZE=7", "COMPRESS=LZW"], compression: 5),
        // One uncompressed strip: libtiff (so GDAL) reads it as strips of about 8 KiB.
        Layout(name: "GTiff one strip i16", type: .i16, width: 90, height: 50, gtiff: ["BLOCKYSIZE=1000"]),
        Layout(name: "GTiff one strip u8 no RowsPerStrip chop", type: .u8, width: 3000, height: 20, gtiff: ["BLOCKYSIZE=20"]),
        Layout(name: "GTiff one strip f32 wide rows", type: .f32, width: 2100, height: 9, gtiff: ["BLOCKYSIZE=9"]),
        Layout(name: "GTiff one strip deflate (not chopped)", width: 90, height: 50, gtiff: ["BLOCKYSIZE=50", "COMPRESS=DEFLATE"],
               compression: 8),
        Layout(name: "GTiff big-endian tiled u16", noData: 1,
               gtiff: ["ENDIANNESS=BIG", "TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2"],
               compression: 8, predictor: 2, bigEndian: true),
        Layout(name: "GTiff big-endian stripped f32 4326", type: .f32, epsg: 4326, gtiff: ["ENDIANNESS=BIG"],
               bigEndian: true, geoTransform: GeoTransform(8, 0.001, 0, 47, 0, -0.001)),
        Layout(name: "GTiff BigTIFF big-endian tiled i16", type: .i16, noData: -1,
               gtiff: ["ENDIANNESS=BIG", "BIGTIFF=YES", "TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"],
               bigTIFF: true, bigEndian: true),
        Layout(name: "GTiff rotated (ModelTransformation)", gtiff: ["TILED=YES"],
               geoTransform: GeoTransform(500_000, 9.9, 0.5, 5_000_000, 0.25, -10.1)),
        Layout(name: "3 bands pixel-interleaved tiled", type: .u8, gtiff: [],
               translate: ["-b", "1", "-b", "1", "-b", "1", "-co", "TILED=YES", "-co", "INTERLEAVE=PIXEL",
                           "-co", "COMPRESS=DEFLATE"],
               compression: 8, samplesPerPixel: 3),
        Layout(name: "3 bands band-interleaved tiled", type: .u8, gtiff: [],
               translate: ["-b", "1", "-b", "1", "-b", "1", "-co", "TILED=YES", "-co", "INTERLEAVE=BAND"],
               samplesPerPixel: 3, planar: 2),
        Layout(name: "2 bands band-interleaved stripped", gtiff: [],
               translate: ["-b", "1", "-b", "1", "-co", "INTERLEAVE=BAND"], samplesPerPixel: 2, planar: 2),
    ]

    /// Writes the layout's file and returns its path.
    static func write(_ layout: Layout, in dir: TiffTempDir) throws -> String {
        let gt = layout.geoTransform
            ?? (layout.epsg == 4326 ? GeoTransform(7, 1e-4, 0, 47, 0, -1e-4) : GeoTransform(600_000, 10, 0, 5_100_000, 0, -10))
        let crs = try SpatialReference.epsg(layout.epsg)
        let n = layout.width * layout.height
        var rng = SplitMix(state: 42)
        // Smooth-ish data with noise, so the compressed tiles differ in size.
        func value(_ i: Int) -> Int { (i % layout.width) / 3 + (i / layout.width) / 5 + rng.below(7) }
        let plain = dir.path("plain.tif")
        let options = layout.cog == nil && layout.translate == nil ? layout.gtiff : []
        switch layout.type {
        case .u8:
            try RasterWriter.writeGeoTIFF(path: plain, width: layout.width, height: layout.height,
                                          data: (0..<n).map { UInt8(truncatingIfNeeded: value($0)) },
                                          geoTransform: gt, crs: crs, noData: layout.noData, options: options)
        case .u16:
            try RasterWriter.writeGeoTIFF(path: plain, width: layout.width, height: layout.height,
                                          data: (0..<n).map { UInt16(truncatingIfNeeded: value($0) * 13) },
                                          geoTransform: gt, crs: crs, noData: layout.noData, options: options)
        case .i16:
            try RasterWriter.writeGeoTIFF(path: plain, width: layout.width, height: layout.height,
                                          data: (0..<n).map { Int16(truncatingIfNeeded: value($0) * 7 - 2000) },
                                          geoTransform: gt, crs: crs, noData: layout.noData, options: options)
        case .f32:
            try RasterWriter.writeGeoTIFF(path: plain, width: layout.width, height: layout.height,
                                          data: (0..<n).map { Float(value($0)) * 0.37 },
                                          geoTransform: gt, crs: crs, noData: layout.noData, options: options)
        }
        if let cog = layout.cog {
            let out = dir.path("cog.tif")
            try RasterWriter.translate(plain, to: out, format: "COG", creationOptions: cog)
            return out
        }
        if let args = layout.translate {
            let out = dir.path("derived.tif")
            try gdalTool("gdal_translate", ["-q"] + args + [plain, out])
            return out
        }
        return plain
    }

    @Test(arguments: layouts)
    func headerAgreesWithGDAL(_ layout: Layout) throws {
        let dir = try TiffTempDir(); defer { dir.cleanup() }
        let path = try Self.write(layout, in: dir)
        let bytes = try fileBytes(path)
        let size = UInt64(bytes.count)
        guard case .header(let h) = try CogHeader.parse(bytes, fileSize: size) else {
            Issue.record("the whole file is not enough"); return
        }
        try compare(h, path: path, layout: layout)

        // Without the file size, and growing from a short prefix as a remote reader does.
        #expect(try CogHeader.parse(bytes) == .header(h))
        for start in [0, 7, 16, 64, 300, 1000] where start < bytes.count {
            for fileSize in [size, nil] {
                let (grown, asked) = try parseGrowing(bytes, start: start, fileSize: fileSize, maxRounds: 40)
                #expect(grown == h)
                // Each overview IFD can cost up to three more asks (entry count, entries, values)
                // when the prefix stops short of it; a remote reader's first 64 KiB holds them all.
                #expect(asked.count <= 4 + 3 * h.overviews.count, "asked \(asked)")
                // The last size asked is enough on its own.
                if let last = asked.last {
                    #expect(try CogHeader.parse(Array(bytes[0..<last]), fileSize: fileSize) == .header(h))
                    #expect(try CogHeader.parse(Array(bytes[0..<(last - 1)]), fileSize: fileSize) != .header(h))
                }
            }
        }
        // A COG's header comes before its tiles: a prefix without them is enough.
        guard layout.cog != nil else { return }
        let headerEnd = try parseGrowing(bytes, start: 0, fileSize: size, maxRounds: 40).1.last!
        #expect(UInt64(headerEnd) < h.blockOffsets.filter { $0 > 0 }.min()!)
    }

    func compare(_ h: CogHeader, path: String, layout: Layout) throws {
        let ds = try Dataset(path: path)
        let band = try ds.band(1)
        #expect(h.width == ds.width && h.height == ds.height)
        let (bw, bh) = band.blockSize
        #expect(h.blockWidth == bw && h.blockHeight == bh, "GDAL block \(bw) x \(bh)")
        #expect(h.tiled == (layout.cog != nil || layout.gtiff.contains("TILED=YES")
                                || layout.translate?.contains("TILED=YES") == true))
        #expect(h.bytesPerSample == band.bytesPerSample)
        let format: Int = switch layout.type { case .u8, .u16: 1; case .i16: 2; case .f32: 3 }
        #expect(h.sampleFormat == format)
        #expect(h.samplesPerPixel == layout.samplesPerPixel && h.samplesPerPixel == ds.bandCount)
        #expect(h.planarConfiguration == layout.planar)
        #expect(h.compression == layout.compression)
        #expect(h.predictor == layout.predictor)
        #expect(h.bigEndian == layout.bigEndian)
        let magic = try fileBytes(path).prefix(4)
        #expect((magic.dropFirst(2).first == 43 || magic.last == 43) == layout.bigTIFF)
        // Exactly GDAL's geotransform, bit for bit.
        let gt = try #require(ds.geoTransform)
        #expect(h.geoTransform == gt.array)
        #expect(h.epsg == ds.spatialReference?.epsgCode)
        #expect(h.epsg == layout.epsg)
        if let noData = band.noDataValue {
            if noData.isNaN {
                #expect(h.noDataIsNaN && h.noData == nil)
            } else {
                #expect(h.noData == noData && !h.noDataIsNaN)
            }
        } else {
            #expect(h.noData == nil && !h.noDataIsNaN)
        }
        #expect(layout.noData.map { $0.isNaN ? h.noDataIsNaN : h.noData == $0 } ?? (h.noData == nil))
        // Every block where GDAL says it is.
        #expect(h.blocksAcross == (ds.width + bw - 1) / bw && h.blocksDown == (ds.height + bh - 1) / bh)
        #expect(h.blockOffsets.count == h.blocksAcross * h.blocksDown)
        var mismatches: [String] = []
        for row in 0..<h.blocksDown {
            for col in 0..<h.blocksAcross {
                let i = row * h.blocksAcross + col
                let ours = (h.blockOffsets[i], Int(h.blockByteCounts[i]))
                guard let theirs = band.tiffBlockLocation(col: col, row: row) else {
                    mismatches.append("(\(col), \(row)): GDAL has no location, we have \(ours)")
                    continue
                }
                if theirs != ours { mismatches.append("(\(col), \(row)): GDAL \(theirs), we \(ours)") }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")

        // Every overview level GDAL lists, with its size, tiling and blocks.
        #expect(h.overviews.count == band.overviewCount, "GDAL has \(band.overviewCount) overviews")
        for (i, level) in h.overviews.enumerated() {
            guard let ovr = band.overview(i) else { continue }
            #expect(level.width == ovr.size.width && level.height == ovr.size.height)
            #expect(level.blockWidth == ovr.blockSize.width && level.blockHeight == ovr.blockSize.height)
            let across = (level.width + level.blockWidth - 1) / level.blockWidth
            let down = (level.height + level.blockHeight - 1) / level.blockHeight
            #expect(level.blockOffsets.count == across * down)
            for row in 0..<down {
                for col in 0..<across {
                    let j = row * across + col
                    let theirs = ovr.tiffBlockLocation(col: col, row: row)
                    if theirs?.offset != level.blockOffsets[j] || theirs?.size != Int(level.blockByteCounts[j]) {
                        mismatches.append("level \(i + 1) (\(col), \(row)): GDAL \(String(describing: theirs))")
                    }
                }
            }
            // The level's georeferencing is GDAL's for that overview (OVERVIEW_LEVEL opens it).
            let levelDS = try Dataset(path: path, options: ["OVERVIEW_LEVEL=\(i)"])
            #expect(h.level(i + 1).geoTransform == levelDS.geoTransform?.array)
            #expect(h.level(i + 1).width == levelDS.width && h.level(i + 1).height == levelDS.height)
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        if layout.cog?.contains("OVERVIEWS=AUTO") == true { #expect(h.overviews.count >= 2) }
    }

    /// PixelIsPoint files (AREA_OR_POINT=Point): GDAL 3.6 writes the tie point at the centre
    /// of the first pixel and, by default (GTIFF_POINT_GEO_IGNORE=FALSE), reports the origin
    /// half a pixel up-left of it again. The parser does the same.
    @Test(arguments: [false, true])
    func pixelIsPointMatchesGDAL(rotated: Bool) throws {
        let dir = try TiffTempDir(); defer { dir.cleanup() }
        let area = dir.path("area.tif"), point = dir.path("point.tif")
        let gt = rotated ? GeoTransform(500_000, 10, 1, 5_000_000, 1, -10) : GeoTransform(500_000, 10, 0, 5_000_000, 0, -10)
        try RasterWriter.writeGeoTIFF(path: area, width: 300, height: 200,
                                      data: [UInt16](repeating: 3, count: 60_000), geoTransform: gt,
                                      crs: try SpatialReference.epsg(32632), options: ["TILED=YES"])
        try gdalTool("gdal_translate", ["-q", "-mo", "AREA_OR_POINT=Point", "-co", "TILED=YES", area, point])
        guard case .header(let h) = try CogHeader.parse(try fileBytes(point)) else {
            Issue.record("needMore for a whole file"); return
        }
        let reported = try #require(try Dataset(path: point).geoTransform)
        #expect(h.geoTransform == reported.array)
        #expect(h.geoTransform == gt.array)
        #expect(h.epsg == 32632)
    }

    /// A negative ModelPixelScale Y is taken as north-up, as GDAL does by default.
    @Test func negativeScaleYIsNorthUpLikeGDAL() throws {
        let dir = try TiffTempDir(); defer { dir.cleanup() }
        var b = TiffBuilder.small()
        b.entries.removeAll { $0.0 == 33550 }
        b.add(33550, .doubles([10, -10, 0]))
        let bytes = b.build()
        let path = dir.path("neg.tif")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        guard case .header(let h) = try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) else {
            Issue.record("needMore for a whole file"); return
        }
        #expect(h.geoTransform == (try #require(try Dataset(path: path).geoTransform)).array)
        #expect(h.geoTransform == [500_000, 10, 0, 5_000_000, 0, -10])
    }
}
