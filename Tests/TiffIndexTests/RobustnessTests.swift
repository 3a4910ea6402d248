import Foundation
import GDALKit
import Testing
@testable import TiffIndex

/// Untrusted bytes: truncated, garbled and hostile files give needMore or an error, never a
/// crash, and stored headers are validated when decoded.
@Suite struct RobustnessTests {
    /// A small DEFLATE COG written by GDAL.
    static func smallCOG(bigTIFF: Bool = false) throws -> [UInt8] {
        let dir = try TiffTempDir(); defer { dir.cleanup() }
        let plain = dir.path("p.tif"), cog = dir.path("c.tif")
        var rng = SplitMix(state: 5)
        try RasterWriter.writeGeoTIFF(path: plain, width: 40, height: 30, data: (0..<1200).map { _ in UInt16(rng.below(50)) },
                                      geoTransform: GeoTransform(300_000, 20, 0, 4_000_000, 0, -20),
                                      crs: try SpatialReference.epsg(32632), noData: 0)
        try RasterWriter.translate(plain, to: cog, format: "COG",
                                   creationOptions: ["BLOCKSIZE=16", "COMPRESS=DEFLATE"] + (bigTIFF ? ["BIGTIFF=YES"] : []))
        return try fileBytes(cog)
    }

    @Test(arguments: [false, true])
    func everyTruncatedPrefixGivesNeedMoreOrError(bigTIFF: Bool) throws {
        let bytes = try Self.smallCOG(bigTIFF: bigTIFF)
        let size = UInt64(bytes.count)
        guard case .header(let full) = try CogHeader.parse(bytes, fileSize: size) else {
            Issue.record("whole file not enough"); return
        }
        #expect(full.blocksAcross == 3 && full.blocksDown == 2)
        // COG tiles carry a 4-byte trailer: the file may end a little after the last tile.
        let tilesEnd = zip(full.blockOffsets, full.blockByteCounts).map { $0 + $1 }.max()!
        var firstHeader: Int?
        for n in 0...bytes.count {
            let prefix = Array(bytes[0..<n])
            // The file is longer: needMore (strictly more bytes, within the file) or the header.
            for fileSize in [size, nil] {
                switch try CogHeader.parse(prefix, fileSize: fileSize) {
                case .header(let h):
                    #expect(h == full)
                    if firstHeader == nil { firstHeader = n }
                    #expect(n >= firstHeader!)
                case .needMore(let more):
                    #expect(more > n && more <= bytes.count, "needMore(\(more)) at \(n)")
                    #expect(firstHeader == nil, "needMore after a header was already found at \(firstHeader!)")
                }
            }
            // The file really is this short: an error (its tiles are gone), never needMore.
            if UInt64(n) < tilesEnd {
                #expect(throws: CogHeaderError.self) { try CogHeader.parse(prefix, fileSize: UInt64(n)) }
            }
        }
        #expect(firstHeader != nil && firstHeader! < bytes.count)
    }

    @Test func bitFlipsAndGarbageNeverCrash() throws {
        let files = [try Self.smallCOG(), try Self.smallCOG(bigTIFF: true), TiffBuilder.small().build(),
                     TiffBuilder.small(bigEndian: true, bigTIFF: true).build()]
        var rng = SplitMix(state: 99)
        var outcomes = [0, 0, 0]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 10 == 0 {
                bytes = (0..<rng.below(300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if round % 20 == 0, bytes.count >= 4 { bytes[0...3] = [0x49, 0x49, 42, 0][...] }
            } else {
                bytes = files[round % files.count]
                // Damage the header area (where the IFD and its values are) a few times.
                for _ in 0..<(1 + rng.below(4)) {
                    let i = rng.below(min(bytes.count, 600))
                    switch rng.below(3) {
                    case 0: bytes[i] ^= UInt8(1 << rng.below(8))
                    case 1: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                    default: bytes[i] = [0, 0xFF, 0x7F, 0x80][rng.below(4)]
                    }
                }
                if rng.below(4) == 0 { bytes.removeLast(rng.below(bytes.count)) }
            }
            let fileSize: UInt64? = rng.below(2) == 0 ? UInt64(bytes.count) : nil
            do {
                switch try CogHeader.parse(bytes, fileSize: fileSize) {
                case .header(let h):
                    outcomes[0] += 1
                    try h.validate()
                case .needMore(let n):
                    outcomes[1] += 1
                    #expect(n > bytes.count && n <= CogHeader.maxHeaderBytes)
                    if fileSize != nil { Issue.record("needMore(\(n)) although the whole file was given") }
                }
            } catch is CogHeaderError {
                outcomes[2] += 1
            }
        }
        // Some damaged files still parse, most are refused.
        #expect(outcomes[0] > 100 && outcomes[2] > 1000, "\(outcomes)")
    }

    @Test func zeroLengthAndTinyFiles() throws {
        #expect(throws: CogHeaderError.self) { try CogHeader.parse([], fileSize: 0) }
        #expect(try CogHeader.parse([]) == .needMore(16))
        #expect(try CogHeader.parse([0x49, 0x49], fileSize: 100) == .needMore(16))
        #expect(throws: CogHeaderError.self) { try CogHeader.parse([0x49, 0x49, 42, 0], fileSize: 4) }
        #expect(try CogHeader.parse([0x49, 0x49, 42, 0]) == .needMore(8))
        #expect(try CogHeader.parse([0x49, 0x49, 43, 0]) == .needMore(16))
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(Array("GIF89a..".utf8)) }
        #expect(throws: CogHeaderError.self) { try CogHeader.parse([0x49, 0x49, 42, 0, 0, 0, 0, 0]) }
        // An empty buffer pointer (nil base address).
        #expect(try CogHeader.parse(UnsafeRawBufferPointer(start: nil, count: 0)) == .needMore(16))
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func handMadeFileParses(bigEndian: Bool, bigTIFF: Bool) throws {
        let bytes = TiffBuilder.small(bigEndian: bigEndian, bigTIFF: bigTIFF).build()
        guard case .header(let h) = try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) else {
            Issue.record("needMore"); return
        }
        let start = UInt64(TiffBuilder.small(bigEndian: bigEndian, bigTIFF: bigTIFF).dataStart)
        #expect(h.width == 100 && h.height == 60 && h.blockWidth == 64 && h.blockHeight == 32 && h.tiled)
        #expect(h.bigEndian == bigEndian && h.compression == 8 && h.bitsPerSample == 16 && h.noData == 0)
        #expect(h.geoTransform == [500_000, 10, 0, 5_000_000, 0, -10] && h.epsg == 32632)
        #expect(h.blockOffsets == [start, start + 16, start + 32, start + 48] && h.blockByteCounts == [16, 16, 16, 16])
        // The same file read by GDAL.
        let dir = try TiffTempDir(); defer { dir.cleanup() }
        let path = dir.path("hand.tif")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let ds = try Dataset(path: path)
        #expect(ds.geoTransform?.array == h.geoTransform && ds.spatialReference?.epsgCode == 32632)
        #expect(try ds.band(1).tiffBlockLocation(col: 1, row: 1)?.offset == start + 48)
    }

    @Test func ifdPointingIntoTheHeaderOrItselfIsRefused() throws {
        for override in [0, 1, 4, 7] as [UInt64] {
            var b = TiffBuilder.small()
            b.ifdOffsetOverride = override
            #expect(throws: CogHeaderError.self) { try CogHeader.parse(b.build()) }
        }
        // The next IFD is IFD0 itself (a loop), or inside it, or in the header.
        for next in [8, 10, 30, 4] as [UInt64] {
            var b = TiffBuilder.small()
            b.nextIFD = next
            let bytes = b.build()
            #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) }
        }
        // An IFD offset far past the end of the file.
        var b = TiffBuilder.small()
        b.ifdOffsetOverride = 0xFFFF_FFF0
        let bytes = b.build()
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) }
        // ... and without a known size it is more than any header may take.
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes) }
    }

    @Test func overflowingCountsAreRefused() throws {
        // BigTIFF IFD with 2^64 - 1 entries.
        var b = TiffBuilder.small(bigTIFF: true)
        var bytes = b.build()
        for i in 16..<24 { bytes[i] = 0xFF }
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) }
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes) }
        // A tag whose count times its size overflows 64 bits.
        b = TiffBuilder.small(bigTIFF: true)
        b.add(34264, .raw(type: 12, count: 1 << 62, bytes: [0, 0, 0, 0, 0, 0, 0, 1]))
        bytes = b.build()
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes) }
        // Classic: 2^32 - 1 doubles at an offset (34 GB): past the file, past the header cap.
        b = TiffBuilder.small()
        b.add(34264, .raw(type: 12, count: 0xFFFF_FFFF, bytes: [16, 0, 0, 0]))
        bytes = b.build()
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) }
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes) }
        // An offset near 2^64 plus the value's length overflows.
        b = TiffBuilder.small(bigTIFF: true)
        b.add(34264, .raw(type: 12, count: 16, bytes: [0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        bytes = b.build()
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes) }
        // Offset + byte count of a tile overflows.
        b = TiffBuilder.small(bigTIFF: true)
        b.entries.removeAll { $0.0 == 324 || $0.0 == 325 }
        b.add(324, .long8s([1000, 2000, 3000, UInt64.max - 5]))
        b.add(325, .long8s([16, 16, 16, 16]))
        bytes = b.build()
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes) }
        // Huge image: more blocks than allowed, and sides beyond 2^31.
        b = TiffBuilder.small()
        b.entries.removeAll { $0.0 == 256 || $0.0 == 257 }
        b.add(256, .longs([0x7FFF_FFFF]))
        b.add(257, .longs([0x7FFF_FFFF]))
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(b.build()) }
        b = TiffBuilder.small(bigTIFF: true)
        b.entries.removeAll { $0.0 == 256 }
        b.add(256, .long8s([1 << 40]))
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(b.build()) }
    }

    @Test func byteCountPastTheFileIsRefused() throws {
        var b = TiffBuilder.small()
        b.entries.removeAll { $0.0 == 325 }
        b.add(325, .longs([16, 16, 16, 17]))
        let bytes = b.build()
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(bytes, fileSize: UInt64(bytes.count)) }
        // Unknown size: the header itself is fine.
        guard case .header(let h) = try CogHeader.parse(bytes) else { Issue.record("needMore"); return }
        #expect(h.blockByteCounts.last == 17)
        // A real COG whose last tile is said to be one byte longer.
        let cog = try RobustnessTests.smallCOG()
        guard case .header(let real) = try CogHeader.parse(cog) else { Issue.record("needMore"); return }
        let last = real.blockOffsets.indices.max { real.blockOffsets[$0] + real.blockByteCounts[$0] < real.blockOffsets[$1] + real.blockByteCounts[$1] }!
        let end = real.blockOffsets[last] + real.blockByteCounts[last]
        #expect(end <= UInt64(cog.count))
        #expect(throws: CogHeaderError.self) { try CogHeader.parse(cog, fileSize: end - 1) }
    }

    @Test func missingOrInconsistentTagsAreRefused() throws {
        func refused(_ change: (inout TiffBuilder) -> Void) -> Bool {
            var b = TiffBuilder.small()
            change(&b)
            let bytes = b.build()
            do {
                _ = try CogHeader.parse(bytes, fileSize: UInt64(bytes.count))
                return false
            } catch { return error is CogHeaderError }
        }
        #expect(refused { $0.entries.removeAll { $0.0 == 256 } })        // no width
        #expect(refused { $0.entries.removeAll { $0.0 == 257 } })        // no height
        #expect(refused { $0.entries.removeAll { $0.0 == 324 } })        // no offsets
        #expect(refused { $0.entries.removeAll { $0.0 == 325 } })        // no byte counts
        #expect(refused { $0.entries.removeAll { $0.0 == 323 } })        // tile width without length
        #expect(refused { $0.entries.removeAll { $0.0 == 33922 } })      // no georeferencing
        #expect(refused {
            $0.entries.removeAll { $0.0 == 325 }
            $0.add(325, .longs([16, 16, 16]))                              // counts mismatch
        })
        #expect(refused {
            $0.entries.removeAll { $0.0 == 256 }
            $0.add(256, .shorts([0]))                                      // zero width
        })
        #expect(refused {
            $0.entries.removeAll { $0.0 == 322 }
            $0.add(322, .shorts([0]))                                      // zero tile width
        })
        #expect(refused {
            $0.entries.removeAll { $0.0 == 42113 }
            $0.add(42113, .ascii("no data here"))                          // unparsable nodata
        })
        #expect(refused {
            $0.entries.removeAll { $0.0 == 34735 }
            $0.add(34735, .shorts([1, 1, 0, 9, 3072, 0, 1, 32632]))        // more keys than values
        })
        #expect(refused {
            $0.entries.removeAll { $0.0 == 256 }
            $0.add(256, .doubles([100]))                                   // width as DOUBLE
        })
        // Still fine: duplicate tags (the first wins), other tags ignored, later IFDs not followed.
        #expect(!refused { $0.add(256, .shorts([5])); $0.add(700, .ascii("xmp")); $0.nextIFD = 1_000_000 })
    }

    @Test func geoKeysAndNoDataVariants() throws {
        func parse(_ change: (inout TiffBuilder) -> Void) throws -> CogHeader {
            var b = TiffBuilder.small()
            change(&b)
            guard case .header(let h) = try CogHeader.parse(b.build()) else { throw CogHeaderError("needMore") }
            return h
        }
        func keys(_ k: [UInt16]) -> TiffBuilder.Value { .shorts([1, 1, 0, UInt16(k.count / 4)] + k) }
        var h = try parse { $0.entries.removeAll { $0.0 == 34735 } }
        #expect(h.epsg == nil)
        h = try parse { $0.entries.removeAll { $0.0 == 34735 }; $0.add(34735, keys([1024, 0, 1, 2, 2048, 0, 1, 4326])) }
        #expect(h.epsg == 4326)
        h = try parse { $0.entries.removeAll { $0.0 == 34735 }; $0.add(34735, keys([1024, 0, 1, 1, 3072, 0, 1, 32767, 2048, 0, 1, 4326])) }
        #expect(h.epsg == nil)  // user-defined projection on a WGS 84 base: not EPSG:4326
        h = try parse { $0.entries.removeAll { $0.0 == 34735 }; $0.add(34735, keys([2048, 0, 1, 32767])) }
        #expect(h.epsg == nil)
        h = try parse { $0.entries.removeAll { $0.0 == 34735 }; $0.add(34735, keys([1025, 0, 1, 2, 3072, 0, 1, 32633])) }
        #expect(h.epsg == 32633 && h.geoTransform == [499_995, 10, 0, 5_000_005, 0, -10])
        h = try parse { $0.entries.removeAll { $0.0 == 42113 } }
        #expect(h.noData == nil && !h.noDataIsNaN)
        h = try parse { $0.entries.removeAll { $0.0 == 42113 }; $0.add(42113, .ascii("nan")) }
        #expect(h.noData == nil && h.noDataIsNaN)
        h = try parse { $0.entries.removeAll { $0.0 == 42113 }; $0.add(42113, .ascii(" -9999 ")) }
        #expect(h.noData == -9999 && !h.noDataIsNaN)
        h = try parse { $0.entries.removeAll { $0.0 == 42113 }; $0.add(42113, .ascii("-inf")) }
        #expect(h.noData == -.infinity)
        // ModelTransformation when there is no pixel scale; a pixel scale wins over it (GDAL's order).
        let matrix: [Double] = [20, 0, 0, 100, 0, -20, 0, 200, 0, 0, 0, 0, 0, 0, 0, 1]
        h = try parse { $0.entries.removeAll { $0.0 == 33550 || $0.0 == 33922 }; $0.add(34264, .doubles(matrix)) }
        #expect(h.geoTransform == [100, 20, 0, 200, 0, -20])
        h = try parse { $0.add(34264, .doubles(matrix)) }
        #expect(h.geoTransform == [500_000, 10, 0, 5_000_000, 0, -10])
    }

    // MARK: the stored form

    @Test func jsonRoundTripAndKeys() throws {
        guard case .header(var h) = try CogHeader.parse(try Self.smallCOG()) else { Issue.record("needMore"); return }
        for variant in 0..<4 {
            switch variant {
            case 1: h.noData = nil; h.noDataIsNaN = true; h.epsg = nil
            case 2: h.noData = -.infinity; h.noDataIsNaN = false
            case 3: h.noData = 1e-300
            default: break
            }
            let json = try JSONEncoder().encode(h)
            #expect(try JSONDecoder().decode(CogHeader.self, from: json) == h)
        }
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(h)) as! [String: Any]
        #expect(Set(object.keys) == ["width", "height", "block_width", "block_height", "tiled", "bits_per_sample",
                                     "sample_format", "samples_per_pixel", "planar_configuration", "compression",
                                     "predictor", "big_endian", "geo_transform", "epsg", "nodata", "nodata_is_nan",
                                     "block_offsets", "block_byte_counts", "overviews"])
    }

    /// Headers stored before overview levels were indexed (cube-scene-index/1) have no
    /// `overviews` key: they decode, with no levels.
    @Test func storedHeaderWithoutOverviewsDecodes() throws {
        guard case .header(let h) = try CogHeader.parse(try Self.smallCOG()) else { Issue.record("needMore"); return }
        var object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(h)) as! [String: Any]
        object["overviews"] = nil
        let old = try JSONDecoder().decode(CogHeader.self, from: try JSONSerialization.data(withJSONObject: object))
        var base = h
        base.overviews = []
        #expect(old.overviews.isEmpty && old.level(1) == old && old == base)
    }

    @Test func inconsistentStoredHeadersAreRefused() throws {
        guard case .header(let h) = try CogHeader.parse(try Self.smallCOG()) else { Issue.record("needMore"); return }
        let good = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(h)) as! [String: Any]
        let broken: [(String, Any)] = [
            ("block_offsets", Array(h.blockOffsets.dropLast())),
            ("block_byte_counts", h.blockByteCounts + [1]),
            ("width", 0), ("height", -5), ("block_width", 0), ("block_height", 1 << 40),
            ("geo_transform", [1.0, 2, 3, 4, 5]), ("geo_transform", [0.0, 0, 0, 0, 0, 0]),
            ("epsg", 0), ("epsg", 40000), ("planar_configuration", 3), ("sample_format", 9),
            ("bits_per_sample", 0), ("samples_per_pixel", 0), ("compression", 0), ("predictor", 0),
            ("nodata", "abc"), ("width", 7_000),  // 7000 px wide needs more blocks than stored
            ("tiled", false),  // strips must span the width
        ]
        for (key, value) in broken {
            var object = good
            object[key] = value
            let json = try JSONSerialization.data(withJSONObject: object)
            #expect(throws: (any Error).self, "\(key) = \(value)") { try JSONDecoder().decode(CogHeader.self, from: json) }
        }
        var nanAndValue = good
        nanAndValue["nodata_is_nan"] = true
        nanAndValue["nodata"] = 0
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(CogHeader.self, from: try JSONSerialization.data(withJSONObject: nanAndValue))
        }
        var overflow = good
        overflow["block_offsets"] = h.blockOffsets.map { _ in UInt64.max }
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(CogHeader.self, from: try JSONSerialization.data(withJSONObject: overflow))
        }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(CogHeader.self, from: Data("{}".utf8)) }
    }

    @Test func computedPropertiesNeverTrapOnInvalidValues() {
        let h = CogHeader(width: Int.max, height: -3, blockWidth: 0, blockHeight: Int.min, tiled: true,
                          bitsPerSample: -8, geoTransform: [], epsg: nil, blockOffsets: [], blockByteCounts: [])
        #expect(h.blocksAcross == 0 && h.blocksDown == 0 && h.bytesPerSample == -1)
        #expect(throws: CogHeaderError.self) { try h.validate() }
    }
}
