/// What a reader needs to fetch and decode the tiles of band 1 of a GeoTIFF/COG without opening
/// it again: the image and block layout, the sample type and coding, the georeferencing, where
/// every block of band 1 is stored, and the same for each overview level (`overviews`).
///
/// Parsed from untrusted bytes by `parse` (TiffParser.swift), or decoded from its compact JSON
/// form; both end in `validate()`, so a value obtained either way is internally consistent.
public struct CogHeader: Sendable, Equatable, Codable {
    public var width: Int            // ImageWidth
    public var height: Int           // ImageLength
    public var blockWidth: Int       // TileWidth, or ImageWidth for strips
    public var blockHeight: Int      // TileLength, or RowsPerStrip (clamped to height) for strips
    public var tiled: Bool
    public var bitsPerSample: Int
    public var sampleFormat: Int     // 1 unsigned int (default), 2 signed, 3 float
    public var samplesPerPixel: Int
    public var planarConfiguration: Int  // 1 chunky, 2 planar
    public var compression: Int      // TIFF code: 1 none, 8 or 32946 deflate, 5 LZW, 50000 zstd, ...
    public var predictor: Int        // 1 none (default), 2 horizontal, 3 float
    public var bigEndian: Bool
    /// GDAL order [originX, pixelW, rowRot, originY, colRot, pixelH], as GDAL reports it
    /// (PixelIsPoint files shifted by half a pixel, like GDAL's default).
    public var geoTransform: [Double]
    /// ProjectedCSTypeGeoKey, or GeographicTypeGeoKey for geographic CRSs; nil when user-defined or absent.
    public var epsg: Int?
    /// GDAL_NODATA (tag 42113); nil when absent or NaN (then `noDataIsNaN`).
    public var noData: Double?
    public var noDataIsNaN: Bool
    /// TileOffsets/StripOffsets of band 1, row-major blocks (planar configuration 2: the first plane's).
    /// 0 with a byte count of 0 is a sparse (never written) block.
    public var blockOffsets: [UInt64]
    /// TileByteCounts/StripByteCounts, same order.
    public var blockByteCounts: [UInt64]
    /// The reduced-resolution images (overview IFDs) that follow the first, largest first, as
    /// GDAL lists them: level n (1-based) is `overviews[n - 1]`. Empty for a file without them.
    public var overviews: [Overview] = []

    /// One overview level: its own size, tiling, coding and blocks; the sample layout,
    /// georeferencing (scaled, see `level(_:)`), CRS and nodata are the base image's.
    public struct Overview: Sendable, Equatable, Codable {
        public var width: Int
        public var height: Int
        public var blockWidth: Int
        public var blockHeight: Int
        public var compression: Int
        public var predictor: Int
        public var blockOffsets: [UInt64]
        public var blockByteCounts: [UInt64]

        public init(width: Int, height: Int, blockWidth: Int, blockHeight: Int, compression: Int, predictor: Int,
                    blockOffsets: [UInt64], blockByteCounts: [UInt64]) {
            self.width = width
            self.height = height
            self.blockWidth = blockWidth
            self.blockHeight = blockHeight
            self.compression = compression
            self.predictor = predictor
            self.blockOffsets = blockOffsets
            self.blockByteCounts = blockByteCounts
        }

        enum CodingKeys: String, CodingKey {
            case width, height
            case blockWidth = "block_width"
            case blockHeight = "block_height"
            case compression, predictor
            case blockOffsets = "block_offsets"
            case blockByteCounts = "block_byte_counts"
        }

        public func validate() throws {
            func fail(_ why: String) -> CogHeaderError { CogHeaderError("invalid COG overview: \(why)") }
            guard (1...CogHeader.maxSide).contains(width), (1...CogHeader.maxSide).contains(height),
                  (1...CogHeader.maxSide).contains(blockWidth), (1...CogHeader.maxSide).contains(blockHeight) else {
                throw fail("size \(width) x \(height) in blocks of \(blockWidth) x \(blockHeight)")
            }
            guard (1...65535).contains(compression), (1...65535).contains(predictor) else {
                throw fail("compression \(compression), predictor \(predictor)")
            }
            let (blocks, overflow) = CogHeader.ceilDiv(width, blockWidth)
                .multipliedReportingOverflow(by: CogHeader.ceilDiv(height, blockHeight))
            guard !overflow, blocks <= CogHeader.maxBlocks, blockOffsets.count == blocks,
                  blockByteCounts.count == blocks else {
                throw fail("\(blockOffsets.count) offsets and \(blockByteCounts.count) byte counts")
            }
            for i in 0..<blocks where blockOffsets[i].addingReportingOverflow(blockByteCounts[i]).overflow {
                throw fail("block \(i) ends past 2^64")
            }
        }
    }

    /// Level `n` as a header of its own: 0 is this image; n >= 1 is overview n (clamped to the
    /// coarsest there is), with the base geotransform scaled by the size ratio, as GDAL defines
    /// an overview's georeferencing (origin unchanged, pixel size times width / level width and
    /// height / level height). A level header has no overviews of its own.
    public func level(_ n: Int) -> CogHeader {
        let n = min(max(0, n), overviews.count)
        guard n > 0 else { return self }
        let o = overviews[n - 1]
        var h = self
        let rx = Double(width) / Double(o.width), ry = Double(height) / Double(o.height)
        let gt = geoTransform
        h.geoTransform = gt.count == 6 ? [gt[0], gt[1] * rx, gt[2] * ry, gt[3], gt[4] * rx, gt[5] * ry] : gt
        (h.width, h.height, h.blockWidth, h.blockHeight) = (o.width, o.height, o.blockWidth, o.blockHeight)
        h.tiled = true
        (h.compression, h.predictor) = (o.compression, o.predictor)
        (h.blockOffsets, h.blockByteCounts) = (o.blockOffsets, o.blockByteCounts)
        h.overviews = []
        return h
    }

    /// Pixel size of level `n` (clamped like `level(_:)`) in CRS units: the larger of its sides.
    public func pixelSize(level n: Int) -> Double {
        let gt = level(n).geoTransform
        guard gt.count == 6 else { return .nan }
        return max((gt[1] * gt[1] + gt[4] * gt[4]).squareRoot(), (gt[2] * gt[2] + gt[5] * gt[5]).squareRoot())
    }

    public init(width: Int, height: Int, blockWidth: Int, blockHeight: Int, tiled: Bool,
                bitsPerSample: Int, sampleFormat: Int = 1, samplesPerPixel: Int = 1,
                planarConfiguration: Int = 1, compression: Int = 1, predictor: Int = 1,
                bigEndian: Bool = false, geoTransform: [Double], epsg: Int?,
                noData: Double? = nil, noDataIsNaN: Bool = false,
                blockOffsets: [UInt64], blockByteCounts: [UInt64]) {
        self.width = width
        self.height = height
        self.blockWidth = blockWidth
        self.blockHeight = blockHeight
        self.tiled = tiled
        self.bitsPerSample = bitsPerSample
        self.sampleFormat = sampleFormat
        self.samplesPerPixel = samplesPerPixel
        self.planarConfiguration = planarConfiguration
        self.compression = compression
        self.predictor = predictor
        self.bigEndian = bigEndian
        self.geoTransform = geoTransform
        self.epsg = epsg
        self.noData = noData
        self.noDataIsNaN = noDataIsNaN
        self.blockOffsets = blockOffsets
        self.blockByteCounts = blockByteCounts
    }

    /// ceil(width / blockWidth); 0 for a (not validated) non-positive size.
    public var blocksAcross: Int { Self.ceilDiv(width, blockWidth) }
    /// ceil(height / blockHeight); 0 for a (not validated) non-positive size.
    public var blocksDown: Int { Self.ceilDiv(height, blockHeight) }
    /// bitsPerSample / 8 (0 below 8 bits).
    public var bytesPerSample: Int { bitsPerSample / 8 }

    static func ceilDiv(_ a: Int, _ b: Int) -> Int {
        guard a > 0, b > 0 else { return 0 }
        return a / b + (a % b == 0 ? 0 : 1)
    }

    /// Largest image side accepted.
    public static let maxSide = 1 << 31
    /// Most blocks accepted in one image (plane).
    public static let maxBlocks = 1 << 24
    /// Most bytes `parse` ever asks for (`needMore`); a header needing more is refused.
    public static let maxHeaderBytes = 64 << 20
    /// Most overview levels kept.
    public static let maxOverviews = 24
    /// Overview IFDs are followed only within this many bytes from the start of the file (a
    /// COG's header holds them all; a plain GeoTIFF may append overviews at its end, where
    /// reading them would mean fetching the file): levels beyond are left out.
    public static let maxOverviewHeaderBytes = 8 << 20
}

public enum CogHeaderParse: Sendable, Equatable {
    case header(CogHeader)
    /// The bytes given end before the header does: call again with at least this many bytes from the start of the file.
    case needMore(Int)
}

public struct CogHeaderError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension CogHeader {
    /// Checks internal consistency: positive sizes, one offset and byte count per block, a
    /// finite invertible geotransform, codes in range, no offset + byte count overflow.
    public func validate() throws {
        func fail(_ why: String) -> CogHeaderError { CogHeaderError("invalid COG header: \(why)") }
        guard (1...Self.maxSide).contains(width), (1...Self.maxSide).contains(height) else {
            throw fail("image size \(width) x \(height)")
        }
        guard (1...Self.maxSide).contains(blockWidth), (1...Self.maxSide).contains(blockHeight) else {
            throw fail("block size \(blockWidth) x \(blockHeight)")
        }
        if !tiled, blockWidth != width || blockHeight > height {
            throw fail("strips of \(blockWidth) x \(blockHeight) in a \(width) x \(height) image")
        }
        guard (1...128).contains(bitsPerSample) else { throw fail("\(bitsPerSample) bits per sample") }
        guard (1...6).contains(sampleFormat) else { throw fail("sample format \(sampleFormat)") }
        guard (1...65535).contains(samplesPerPixel) else { throw fail("\(samplesPerPixel) samples per pixel") }
        guard planarConfiguration == 1 || planarConfiguration == 2 else {
            throw fail("planar configuration \(planarConfiguration)")
        }
        guard (1...65535).contains(compression) else { throw fail("compression \(compression)") }
        guard (1...65535).contains(predictor) else { throw fail("predictor \(predictor)") }
        guard geoTransform.count == 6, geoTransform.allSatisfy({ $0.isFinite }) else {
            throw fail("geotransform \(geoTransform)")
        }
        let det = geoTransform[1] * geoTransform[5] - geoTransform[2] * geoTransform[4]
        guard det != 0, det.isFinite else { throw fail("degenerate geotransform \(geoTransform)") }
        if let epsg, !(1...32766).contains(epsg) { throw fail("EPSG code \(epsg)") }
        if noDataIsNaN, noData != nil { throw fail("nodata both NaN and \(noData!)") }
        if let noData, noData.isNaN { throw fail("NaN nodata without noDataIsNaN") }
        let (blocks, overflow) = blocksAcross.multipliedReportingOverflow(by: blocksDown)
        guard !overflow, blocks <= Self.maxBlocks else {
            throw fail("\(blocksAcross) x \(blocksDown) blocks")
        }
        guard blockOffsets.count == blocks, blockByteCounts.count == blocks else {
            throw fail("\(blockOffsets.count) offsets and \(blockByteCounts.count) byte counts for \(blocks) blocks")
        }
        for i in 0..<blocks where blockOffsets[i].addingReportingOverflow(blockByteCounts[i]).overflow {
            throw fail("block \(i) ends past 2^64")
        }
        guard overviews.count <= Self.maxOverviews else { throw fail("\(overviews.count) overview levels") }
        var previous = (width, height)
        for o in overviews {
            try o.validate()
            guard o.width < previous.0 || o.height < previous.1, o.width <= previous.0, o.height <= previous.1 else {
                throw fail("overview of \(o.width) x \(o.height) after \(previous.0) x \(previous.1)")
            }
            previous = (o.width, o.height)
        }
    }
}

// MARK: - compact stored form (snake_case JSON)

extension CogHeader {
    enum CodingKeys: String, CodingKey {
        case width, height
        case blockWidth = "block_width"
        case blockHeight = "block_height"
        case tiled
        case bitsPerSample = "bits_per_sample"
        case sampleFormat = "sample_format"
        case samplesPerPixel = "samples_per_pixel"
        case planarConfiguration = "planar_configuration"
        case compression, predictor
        case bigEndian = "big_endian"
        case geoTransform = "geo_transform"
        case epsg
        case noData = "nodata"
        case noDataIsNaN = "nodata_is_nan"
        case blockOffsets = "block_offsets"
        case blockByteCounts = "block_byte_counts"
        case overviews
    }

    /// Decodes and validates: a corrupted stored header is refused.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        width = try c.decode(Int.self, forKey: .width)
        height = try c.decode(Int.self, forKey: .height)
        blockWidth = try c.decode(Int.self, forKey: .blockWidth)
        blockHeight = try c.decode(Int.self, forKey: .blockHeight)
        tiled = try c.decode(Bool.self, forKey: .tiled)
        bitsPerSample = try c.decode(Int.self, forKey: .bitsPerSample)
        sampleFormat = try c.decode(Int.self, forKey: .sampleFormat)
        samplesPerPixel = try c.decode(Int.self, forKey: .samplesPerPixel)
        planarConfiguration = try c.decode(Int.self, forKey: .planarConfiguration)
        compression = try c.decode(Int.self, forKey: .compression)
        predictor = try c.decode(Int.self, forKey: .predictor)
        bigEndian = try c.decode(Bool.self, forKey: .bigEndian)
        geoTransform = try c.decode([Double].self, forKey: .geoTransform)
        epsg = try c.decodeIfPresent(Int.self, forKey: .epsg)
        // ±infinity (not representable in JSON numbers) is stored as the string "inf"/"-inf".
        if let value = try? c.decodeIfPresent(Double.self, forKey: .noData) {
            noData = value
        } else if let text = try c.decodeIfPresent(String.self, forKey: .noData) {
            switch text {
            case "inf", "+inf": noData = .infinity
            case "-inf": noData = -.infinity
            default:
                throw DecodingError.dataCorruptedError(forKey: .noData, in: c, debugDescription: "nodata '\(text)'")
            }
        } else {
            noData = nil
        }
        noDataIsNaN = try c.decodeIfPresent(Bool.self, forKey: .noDataIsNaN) ?? false
        blockOffsets = try c.decode([UInt64].self, forKey: .blockOffsets)
        blockByteCounts = try c.decode([UInt64].self, forKey: .blockByteCounts)
        // Absent in headers stored before overview levels were indexed (cube-scene-index/1).
        overviews = try c.decodeIfPresent([Overview].self, forKey: .overviews) ?? []
        do {
            try validate()
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "\(error)",
                                                    underlyingError: error))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(blockWidth, forKey: .blockWidth)
        try c.encode(blockHeight, forKey: .blockHeight)
        try c.encode(tiled, forKey: .tiled)
        try c.encode(bitsPerSample, forKey: .bitsPerSample)
        try c.encode(sampleFormat, forKey: .sampleFormat)
        try c.encode(samplesPerPixel, forKey: .samplesPerPixel)
        try c.encode(planarConfiguration, forKey: .planarConfiguration)
        try c.encode(compression, forKey: .compression)
        try c.encode(predictor, forKey: .predictor)
        try c.encode(bigEndian, forKey: .bigEndian)
        try c.encode(geoTransform, forKey: .geoTransform)
        // Every key is always written (null when absent), so the stored form has one shape.
        if let epsg { try c.encode(epsg, forKey: .epsg) } else { try c.encodeNil(forKey: .epsg) }
        if let noData {
            if noData.isInfinite {
                try c.encode(noData > 0 ? "inf" : "-inf", forKey: .noData)
            } else {
                try c.encode(noData, forKey: .noData)
            }
        } else {
            try c.encodeNil(forKey: .noData)
        }
        try c.encode(noDataIsNaN, forKey: .noDataIsNaN)
        try c.encode(blockOffsets, forKey: .blockOffsets)
        try c.encode(blockByteCounts, forKey: .blockByteCounts)
        try c.encode(overviews, forKey: .overviews)
    }
}
