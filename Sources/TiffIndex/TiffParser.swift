/// A bounds-checked reader of the first IFD of a (Big)TIFF, for `CogHeader.parse`.
///
/// Every read is checked against the bytes given (`available`), every offset and length is
/// computed with overflow checks in UInt64, and arrays are only allocated for values whose bytes
/// are present, so memory stays within a small multiple of the input whatever the bytes say.

extension CogHeader {
    /// Parses the first IFD (the full-resolution image) of the TIFF whose first `prefix.count` bytes are given.
    /// `fileSize`, when known, bounds every offset (an offset or byte range past the end of the file is an error).
    /// Never traps, never reads out of bounds, never allocates more than a small multiple of the input size (or of
    /// what needMore asks for, at most `maxHeaderBytes`), whatever the bytes: it reads untrusted data.
    public static func parse(_ prefix: UnsafeRawBufferPointer, fileSize: UInt64? = nil) throws -> CogHeaderParse {
        var parser = TiffParser(bytes: prefix, fileSize: fileSize)
        return try parser.parse()
    }

    public static func parse(_ prefix: [UInt8], fileSize: UInt64? = nil) throws -> CogHeaderParse {
        try prefix.withUnsafeBytes { try parse($0, fileSize: fileSize) }
    }
}

/// TIFF tags the header needs.
enum Tag {
    static let imageWidth: UInt16 = 256
    static let imageLength: UInt16 = 257
    static let bitsPerSample: UInt16 = 258
    static let compression: UInt16 = 259
    static let photometric: UInt16 = 262
    static let stripOffsets: UInt16 = 273
    static let samplesPerPixel: UInt16 = 277
    static let rowsPerStrip: UInt16 = 278
    static let stripByteCounts: UInt16 = 279
    static let planarConfiguration: UInt16 = 284
    static let predictor: UInt16 = 317
    static let tileWidth: UInt16 = 322
    static let tileLength: UInt16 = 323
    static let tileOffsets: UInt16 = 324
    static let tileByteCounts: UInt16 = 325
    static let sampleFormat: UInt16 = 339
    static let modelPixelScale: UInt16 = 33550
    static let modelTiepoint: UInt16 = 33922
    static let modelTransformation: UInt16 = 34264
    static let geoKeyDirectory: UInt16 = 34735
    static let geoDoubleParams: UInt16 = 34736
    static let geoAsciiParams: UInt16 = 34737
    static let gdalNoData: UInt16 = 42113

    static let newSubfileType: UInt16 = 254

    /// Tags whose first value alone is used (the rest of a longer array is never read).
    static let scalars: Set<UInt16> = [newSubfileType, imageWidth, imageLength, bitsPerSample, compression, photometric, samplesPerPixel,
                                       rowsPerStrip, planarConfiguration, predictor, tileWidth, tileLength,
                                       sampleFormat]
    /// Tags read whole.
    static let arrays: Set<UInt16> = [stripOffsets, stripByteCounts, tileOffsets, tileByteCounts,
                                      modelPixelScale, modelTiepoint, modelTransformation, geoKeyDirectory,
                                      gdalNoData]
}

/// GeoKeys the header needs.
enum GeoKey {
    static let modelType: UInt16 = 1024
    static let rasterType: UInt16 = 1025
    static let geographicType: UInt16 = 2048
    static let projectedCSType: UInt16 = 3072
}

/// One IFD entry, its value located (inline or at an offset).
struct TiffEntry {
    let tag: UInt16
    let type: UInt16
    let count: UInt64
    /// Where the value's bytes start in the file.
    let position: UInt64
    /// Size of one value in bytes.
    let size: UInt64
}

struct TiffParser {
    let bytes: UnsafeRawBufferPointer
    /// Bytes that may be read: the prefix, cut at `fileSize` when that is smaller.
    let available: UInt64
    let fileSize: UInt64?
    var bigEndian = false
    var bigTIFF = false

    init(bytes: UnsafeRawBufferPointer, fileSize: UInt64?) {
        self.bytes = bytes
        self.fileSize = fileSize
        let count = UInt64(bytes.count)
        available = fileSize.map { min($0, count) } ?? count
    }

    static func fail(_ why: String) -> CogHeaderError { CogHeaderError("not a readable GeoTIFF header: \(why)") }

    /// What to answer when the bytes up to `end` are needed and not all given: `nil` when they are.
    func need(_ end: UInt64, _ what: @autoclosure () -> String) throws -> CogHeaderParse? {
        if end <= available { return nil }
        if let fileSize, end > fileSize {
            throw Self.fail("\(what()) ends at byte \(end), past the end of the file (\(fileSize) bytes)")
        }
        guard end <= UInt64(CogHeader.maxHeaderBytes) else {
            throw Self.fail("\(what()) ends at byte \(end), beyond the \(CogHeader.maxHeaderBytes) bytes a header may take")
        }
        return .needMore(Int(end))
    }

    // MARK: raw reads (callers check `at + size <= available` first)

    func u8(_ at: UInt64) -> UInt8 { bytes[Int(at)] }

    func u16(_ at: UInt64) -> UInt16 {
        let a = UInt16(u8(at)), b = UInt16(u8(at + 1))
        return bigEndian ? a << 8 | b : b << 8 | a
    }

    func u32(_ at: UInt64) -> UInt32 {
        let a = UInt32(u16(at)), b = UInt32(u16(at + 2))
        return bigEndian ? a << 16 | b : b << 16 | a
    }

    func u64(_ at: UInt64) -> UInt64 {
        let a = UInt64(u32(at)), b = UInt64(u32(at + 4))
        return bigEndian ? a << 32 | b : b << 32 | a
    }

    /// An offset field: 4 bytes in classic TIFF, 8 in BigTIFF.
    func offset(_ at: UInt64) -> UInt64 { bigTIFF ? u64(at) : UInt64(u32(at)) }

    // MARK: the header and IFD0

    mutating func parse() throws -> CogHeaderParse {
        // Byte order, version, and where IFD0 is.
        if available < 8 {
            if let fileSize, fileSize < 8 { throw Self.fail("a file of \(fileSize) bytes") }
            if available < 4 {
                // Not enough to tell: the header is 8 bytes (16 for BigTIFF).
                return .needMore(Int(min(16, fileSize ?? 16)))
            }
        }
        guard isTIFFMagic() else { throw Self.fail("no TIFF signature") }
        bigEndian = u8(0) == 0x4D
        bigTIFF = u16(2) == 43
        let headerSize: UInt64 = bigTIFF ? 16 : 8
        if let more = try need(headerSize, "the TIFF header") { return more }
        if bigTIFF {
            guard u16(4) == 8, u16(6) == 0 else { throw Self.fail("BigTIFF offset size \(u16(4)), reserved \(u16(6))") }
        }
        let ifd = offset(bigTIFF ? 8 : 4)
        guard ifd >= headerSize else { throw Self.fail("the first IFD at \(ifd) overlaps the file header") }

        let first: (entries: [UInt16: TiffEntry], next: UInt64)
        switch try readIFD(at: ifd, headerSize: headerSize, strict: true) {
        case .needMore(let n): return .needMore(n)
        case .stop: throw Self.fail("the first IFD cannot be read")
        case .entries(let entries, let next): first = (entries, next)
        }
        var header = try header(first.entries)
        // Overview levels: the reduced-resolution IFDs that follow (a COG puts them all in its
        // header). Anything odd about them drops the levels from there on, never the header.
        var next = first.next
        var visited: Set<UInt64> = [ifd]
        var levels: [CogHeader.Overview] = []
        while next != 0, next <= UInt64(CogHeader.maxOverviewHeaderBytes), levels.count < CogHeader.maxOverviews,
              visited.count <= 2 * CogHeader.maxOverviews, visited.insert(next).inserted {
            guard let read = try? readIFD(at: next, headerSize: headerSize, strict: false) else { break }
            guard case .entries(let entries, let after) = read else {
                if case .needMore(let n) = read { return .needMore(n) }
                break
            }
            next = after
            let subfile = (try? entries[Tag.newSubfileType].map { try unsigned($0, 0) }) ?? 0
            // Bit 2: a transparency mask (GDAL's internal masks and their overviews): skipped.
            if subfile & 4 != 0 { continue }
            // Bit 0: a reduced-resolution image of the first; anything else ends the levels.
            guard subfile & 1 == 1, let level = try? overview(entries, of: header),
                  level.width < (levels.last?.width ?? header.width),
                  level.height < (levels.last?.height ?? header.height) else { break }
            levels.append(level)
        }
        header.overviews = levels
        return .header(header)
    }

    enum IFDRead {
        case needMore(Int)
        /// An overview IFD that is not worth reading (past what a header holds).
        case stop
        case entries([UInt16: TiffEntry], next: UInt64)
    }

    /// Reads the IFD at `ifd`: its entries and the next IFD's offset. `strict` (the first IFD):
    /// bytes beyond the prefix are asked for up to `maxHeaderBytes`; overview IFDs (not strict)
    /// ask only up to `maxOverviewHeaderBytes`.
    func readIFD(at ifd: UInt64, headerSize: UInt64, strict: Bool) throws -> IFDRead {
        func need(_ end: UInt64, _ what: @autoclosure () -> String) throws -> IFDRead? {
            if !strict, end > UInt64(CogHeader.maxOverviewHeaderBytes) { return .stop }
            switch try self.need(end, what()) {
            case nil: return nil
            case .needMore(let n)?: return .needMore(n)
            case .header?: return nil
            }
        }
        // The IFD: entry count, entries, next IFD offset.
        let countSize: UInt64 = bigTIFF ? 8 : 2
        let entrySize: UInt64 = bigTIFF ? 20 : 12
        let (countEnd, o1) = ifd.addingReportingOverflow(countSize)
        guard !o1 else { throw Self.fail("IFD offset \(ifd)") }
        if let more = try need(countEnd, "the IFD entry count") { return more }
        let entryCount = bigTIFF ? u64(ifd) : UInt64(u16(ifd))
        guard entryCount > 0 else { throw Self.fail("an empty IFD") }
        // entryCount <= 2^64 / 20 is not guaranteed: check each step.
        let (entriesBytes, o2) = entryCount.multipliedReportingOverflow(by: entrySize)
        let (entriesEnd, o3) = countEnd.addingReportingOverflow(entriesBytes)
        let (ifdEnd, o4) = entriesEnd.addingReportingOverflow(countSize == 8 ? 8 : 4)
        guard !o2, !o3, !o4 else { throw Self.fail("an IFD of \(entryCount) entries") }
        if let more = try need(ifdEnd, "the IFD of \(entryCount) entries") { return more }

        // A next-IFD offset into the header or into this IFD itself is a loop or garbage.
        let next = offset(entriesEnd)
        if next != 0, next < headerSize || (next >= ifd && next < ifdEnd) {
            throw Self.fail("the next IFD offset \(next) points into \(next < headerSize ? "the file header" : "the IFD itself")")
        }

        // Entries we use; the first of duplicated tags wins (like libtiff).
        var entries: [UInt16: TiffEntry] = [:]
        var valuesEnd: UInt64 = 0
        var at = countEnd
        for _ in 0..<entryCount {
            defer { at += entrySize }
            let tag = u16(at)
            let scalar = Tag.scalars.contains(tag)
            guard scalar || Tag.arrays.contains(tag), entries[tag] == nil else { continue }
            let type = u16(at + 2)
            let count = bigTIFF ? u64(at + 4) : UInt64(u32(at + 4))
            let field = at + (bigTIFF ? 12 : 8)
            guard let size = Self.typeSize(type) else {
                throw Self.fail("tag \(tag) has unknown field type \(type)")
            }
            guard count > 0 else { throw Self.fail("tag \(tag) has no values") }
            let (total, o) = count.multipliedReportingOverflow(by: size)
            guard !o else { throw Self.fail("tag \(tag): \(count) values of \(size) bytes overflow") }
            let position: UInt64
            if total <= (bigTIFF ? 8 : 4) {
                position = field
            } else {
                position = offset(field)
                // Only the first value of a scalar tag is read.
                let (end, o) = position.addingReportingOverflow(scalar ? size : total)
                guard !o else { throw Self.fail("tag \(tag): values at \(position) overflow") }
                if let fileSize, end > fileSize {
                    throw Self.fail("tag \(tag): values at \(position)..<\(end) past the end of the file (\(fileSize) bytes)")
                }
                valuesEnd = max(valuesEnd, end)
            }
            entries[tag] = TiffEntry(tag: tag, type: type, count: count, position: position, size: size)
        }
        if let more = try need(valuesEnd, "the IFD's values") { return more }
        return .entries(entries, next: next)
    }

    func isTIFFMagic() -> Bool {
        guard available >= 4 else { return false }
        let b = (u8(0), u8(1), u8(2), u8(3))
        return b == (0x49, 0x49, 42, 0) || b == (0x4D, 0x4D, 0, 42)
            || b == (0x49, 0x49, 43, 0) || b == (0x4D, 0x4D, 0, 43)
    }

    static func typeSize(_ type: UInt16) -> UInt64? {
        switch type {
        case 1, 2, 6, 7: return 1          // BYTE, ASCII, SBYTE, UNDEFINED
        case 3, 8: return 2                // SHORT, SSHORT
        case 4, 9, 11, 13: return 4        // LONG, SLONG, FLOAT, IFD
        case 5, 10, 12, 16, 17, 18: return 8  // RATIONAL, SRATIONAL, DOUBLE, LONG8, SLONG8, IFD8
        default: return nil
        }
    }

    // MARK: values (all bytes checked present by `parse`)

    /// The i-th value of an unsigned integer tag (BYTE, SHORT, LONG, LONG8, IFD, IFD8).
    func unsigned(_ e: TiffEntry, _ i: UInt64) throws -> UInt64 {
        let at = e.position + i * e.size
        switch e.type {
        case 1: return UInt64(u8(at))
        case 3: return UInt64(u16(at))
        case 4, 13: return UInt64(u32(at))
        case 16, 18: return u64(at)
        default: throw Self.fail("tag \(e.tag) has field type \(e.type), not an unsigned integer")
        }
    }

    /// The i-th value of a numeric tag as a Double (FLOAT, DOUBLE, or an unsigned integer).
    func double(_ e: TiffEntry, _ i: UInt64) throws -> Double {
        let at = e.position + i * e.size
        switch e.type {
        case 12: return Double(bitPattern: u64(at))
        case 11: return Double(Float(bitPattern: u32(at)))
        default: return Double(try unsigned(e, i))
        }
    }

    /// The first value of a scalar tag, as an Int within `range`.
    func scalar(_ entries: [UInt16: TiffEntry], _ tag: UInt16, _ name: String, default value: Int? = nil,
                in range: ClosedRange<Int>) throws -> Int {
        guard let e = entries[tag] else {
            if let value { return value }
            throw Self.fail("no \(name) tag")
        }
        let v = try unsigned(e, 0)
        guard v <= UInt64(range.upperBound), Int(v) >= range.lowerBound else {
            throw Self.fail("\(name) \(v) out of \(range)")
        }
        return Int(v)
    }

    func unsignedArray(_ e: TiffEntry) throws -> [UInt64] {
        // e.count * e.size bytes are present (checked), so the array is at most 8x the input.
        var out = [UInt64]()
        out.reserveCapacity(Int(e.count))
        for i in 0..<e.count { out.append(try unsigned(e, i)) }
        return out
    }

    func doubleArray(_ e: TiffEntry?, max: UInt64) throws -> [Double]? {
        guard let e else { return nil }
        guard e.type == 11 || e.type == 12 else {
            throw Self.fail("tag \(e.tag) has field type \(e.type), not FLOAT or DOUBLE")
        }
        return try (0..<min(e.count, max)).map { try double(e, $0) }
    }

    // MARK: the header from the entries

    func header(_ entries: [UInt16: TiffEntry]) throws -> CogHeader {
        let side = 1...CogHeader.maxSide
        let width = try scalar(entries, Tag.imageWidth, "ImageWidth", in: side)
        let height = try scalar(entries, Tag.imageLength, "ImageLength", in: side)
        let bits = try scalar(entries, Tag.bitsPerSample, "BitsPerSample", default: 1, in: 1...128)
        let compression = try scalar(entries, Tag.compression, "Compression", default: 1, in: 1...65535)
        let samples = try scalar(entries, Tag.samplesPerPixel, "SamplesPerPixel", default: 1, in: 1...65535)
        let planar = try scalar(entries, Tag.planarConfiguration, "PlanarConfiguration", default: 1, in: 1...2)
        let predictor = try scalar(entries, Tag.predictor, "Predictor", default: 1, in: 1...65535)
        let sampleFormat = try scalar(entries, Tag.sampleFormat, "SampleFormat", default: 1, in: 1...6)

        let tiled: Bool
        let blockWidth: Int
        var blockHeight: Int
        var rowsPerStrip = 0
        let offsetsTag: UInt16, countsTag: UInt16
        switch (entries[Tag.tileWidth] != nil, entries[Tag.tileLength] != nil) {
        case (true, true):
            tiled = true
            blockWidth = try scalar(entries, Tag.tileWidth, "TileWidth", in: side)
            blockHeight = try scalar(entries, Tag.tileLength, "TileLength", in: side)
            (offsetsTag, countsTag) = (Tag.tileOffsets, Tag.tileByteCounts)
        case (false, false):
            tiled = false
            blockWidth = width
            // Absent RowsPerStrip means one strip (2^32 - 1 rows).
            rowsPerStrip = try scalar(entries, Tag.rowsPerStrip, "RowsPerStrip", default: Int(UInt32.max),
                                      in: 1...Int(UInt32.max))
            blockHeight = min(rowsPerStrip, height)
            (offsetsTag, countsTag) = (Tag.stripOffsets, Tag.stripByteCounts)
        default:
            throw Self.fail("only one of TileWidth and TileLength")
        }

        // One offset and byte count per block and plane.
        let blocks = CogHeader.ceilDiv(width, blockWidth) * CogHeader.ceilDiv(height, blockHeight)  // <= 2^62
        guard blocks <= CogHeader.maxBlocks else { throw Self.fail("\(blocks) blocks") }
        let expected = UInt64(blocks) * UInt64(planar == 2 ? samples : 1)
        let kind = tiled ? "Tile" : "Strip"
        guard let offsetsEntry = entries[offsetsTag] else { throw Self.fail("no \(kind)Offsets tag") }
        guard let countsEntry = entries[countsTag] else { throw Self.fail("no \(kind)ByteCounts tag") }
        guard offsetsEntry.count == expected, countsEntry.count == expected else {
            throw Self.fail("\(offsetsEntry.count) \(kind)Offsets and \(countsEntry.count) \(kind)ByteCounts for \(expected) blocks")
        }
        let band1 = CountedEntry(offsetsEntry, UInt64(blocks)), counts1 = CountedEntry(countsEntry, UInt64(blocks))
        var offsets = try unsignedArray(band1.entry)
        var byteCounts = try unsignedArray(counts1.entry)
        for i in 0..<blocks {
            let (end, o) = offsets[i].addingReportingOverflow(byteCounts[i])
            if o || (fileSize.map { end > $0 } ?? false) {
                throw Self.fail("block \(i) at \(offsets[i]) of \(byteCounts[i]) bytes ends past the end of the file")
            }
        }

        if !tiled, compression == 1, planar == 1 {
            // Uncompressed strips: what libtiff (and so GDAL) makes of them.
            let scanline = (width * bits * samples + 7) / 8  // < 2^55
            if blocks == 1 {
                let photometric = try scalar(entries, Tag.photometric, "Photometric", default: 1, in: 0...65535)
                if let chopped = try Self.chopSingleStrip(offset: offsets[0], byteCount: byteCounts[0], height: height,
                                                          rowsPerStrip: rowsPerStrip, scanline: scanline,
                                                          photometric: photometric) {
                    (offsets, byteCounts, blockHeight) = chopped
                }
            } else {
                let (stripSize, o) = blockHeight.multipliedReportingOverflow(by: scanline)
                if o || stripSize > 0x7FFF_FFFF {
                    // libtiff would chop these up (TryChopUpUncompressedBigTiff): read through GDAL.
                    throw Self.fail("uncompressed strips of \(blockHeight) rows of \(scanline) bytes")
                }
            }
        }

        // GeoKeys, then the geotransform as GDAL computes it.
        let keys = try geoKeys(entries[Tag.geoKeyDirectory])
        let geoTransform = try self.geoTransform(entries, pixelIsPoint: keys[GeoKey.rasterType] == 2)
        let epsg = Self.epsg(keys)
        let (noData, noDataIsNaN) = try self.noData(entries[Tag.gdalNoData])

        let header = CogHeader(width: width, height: height, blockWidth: blockWidth, blockHeight: blockHeight,
                               tiled: tiled, bitsPerSample: bits, sampleFormat: sampleFormat,
                               samplesPerPixel: samples, planarConfiguration: planar, compression: compression,
                               predictor: predictor, bigEndian: bigEndian, geoTransform: geoTransform, epsg: epsg,
                               noData: noData, noDataIsNaN: noDataIsNaN,
                               blockOffsets: offsets, blockByteCounts: byteCounts)
        try header.validate()
        return header
    }

    /// One overview IFD of `base`: tiled, with the base's sample layout (a level that is not
    /// is not used). Its byte ranges are checked like the base's.
    func overview(_ entries: [UInt16: TiffEntry], of base: CogHeader) throws -> CogHeader.Overview {
        let side = 1...CogHeader.maxSide
        let width = try scalar(entries, Tag.imageWidth, "ImageWidth", in: side)
        let height = try scalar(entries, Tag.imageLength, "ImageLength", in: side)
        let bits = try scalar(entries, Tag.bitsPerSample, "BitsPerSample", default: 1, in: 1...128)
        let samples = try scalar(entries, Tag.samplesPerPixel, "SamplesPerPixel", default: 1, in: 1...65535)
        let planar = try scalar(entries, Tag.planarConfiguration, "PlanarConfiguration", default: 1, in: 1...2)
        let sampleFormat = try scalar(entries, Tag.sampleFormat, "SampleFormat", default: 1, in: 1...6)
        guard bits == base.bitsPerSample, samples == base.samplesPerPixel, planar == base.planarConfiguration,
              sampleFormat == base.sampleFormat else { throw Self.fail("an overview of another sample layout") }
        let compression = try scalar(entries, Tag.compression, "Compression", default: 1, in: 1...65535)
        let predictor = try scalar(entries, Tag.predictor, "Predictor", default: 1, in: 1...65535)
        guard entries[Tag.tileWidth] != nil, entries[Tag.tileLength] != nil else {
            throw Self.fail("an overview in strips")
        }
        let blockWidth = try scalar(entries, Tag.tileWidth, "TileWidth", in: side)
        let blockHeight = try scalar(entries, Tag.tileLength, "TileLength", in: side)
        let blocks = CogHeader.ceilDiv(width, blockWidth) * CogHeader.ceilDiv(height, blockHeight)
        guard blocks <= CogHeader.maxBlocks else { throw Self.fail("\(blocks) blocks") }
        let expected = UInt64(blocks) * UInt64(planar == 2 ? samples : 1)
        guard let offsetsEntry = entries[Tag.tileOffsets], let countsEntry = entries[Tag.tileByteCounts],
              offsetsEntry.count == expected, countsEntry.count == expected else {
            throw Self.fail("an overview without one TileOffset and TileByteCount per block")
        }
        let offsets = try unsignedArray(CountedEntry(offsetsEntry, UInt64(blocks)).entry)
        let counts = try unsignedArray(CountedEntry(countsEntry, UInt64(blocks)).entry)
        for i in 0..<blocks {
            let (end, o) = offsets[i].addingReportingOverflow(counts[i])
            if o || (fileSize.map { end > $0 } ?? false) { throw Self.fail("overview block \(i) ends past the file") }
        }
        let level = CogHeader.Overview(width: width, height: height, blockWidth: blockWidth, blockHeight: blockHeight,
                                       compression: compression, predictor: predictor,
                                       blockOffsets: offsets, blockByteCounts: counts)
        try level.validate()
        return level
    }

    /// libtiff's ChopUpSingleUncompressedStrip (TIFF_STRIPCHOP, on in GDAL's libtiff): one
    /// uncompressed strip is read as strips of about 8 KiB (at least one row), so GDAL reports
    /// blocks of that many rows, at consecutive offsets, the last ones shorter or empty when the
    /// byte count falls short. nil when libtiff leaves the strip alone.
    static func chopSingleStrip(offset: UInt64, byteCount: UInt64, height: Int, rowsPerStrip: Int, scanline: Int,
                                photometric: Int) throws -> ([UInt64], [UInt64], Int)? {
        let stripSizeDefault = 8192
        guard scanline > 0 else { return nil }
        let rows = scanline > stripSizeDefault ? 1 : stripSizeDefault / scanline
        guard rows < rowsPerStrip else { return nil }  // never more rows per strip than the file's
        // YCbCr subsampling changes libtiff's row blocks: leave such files to GDAL.
        guard photometric != 6 else { throw fail("an uncompressed single-strip YCbCr image") }
        let strips = CogHeader.ceilDiv(height, rows)
        // Beyond this (a single uncompressed strip of over 512 MiB), read through GDAL rather
        // than allocate arrays unrelated to the input size.
        guard strips <= 65536 else { throw fail("a single uncompressed strip of \(strips) chopped strips") }
        var offsets: [UInt64] = [], counts: [UInt64] = []
        offsets.reserveCapacity(strips)
        counts.reserveCapacity(strips)
        var stripBytes = UInt64(rows * scanline), left = byteCount, at = offset
        for _ in 0..<strips {
            stripBytes = min(stripBytes, left)
            counts.append(stripBytes)
            offsets.append(stripBytes > 0 ? at : 0)
            at += stripBytes
            left -= stripBytes
        }
        return (offsets, counts, min(rows, height))
    }

    /// An entry cut to its first `count` values (band 1 of a planar file).
    struct CountedEntry {
        let entry: TiffEntry
        init(_ e: TiffEntry, _ count: UInt64) {
            entry = TiffEntry(tag: e.tag, type: e.type, count: min(count, e.count), position: e.position, size: e.size)
        }
    }

    /// The GeoKeys with an inline SHORT value (TIFFTagLocation 0), by key ID.
    func geoKeys(_ e: TiffEntry?) throws -> [UInt16: UInt16] {
        guard let e else { return [:] }
        guard e.type == 3 else { throw Self.fail("GeoKeyDirectory of field type \(e.type), not SHORT") }
        guard e.count >= 4 else { throw Self.fail("GeoKeyDirectory of \(e.count) values") }
        func short(_ i: UInt64) -> UInt16 { u16(e.position + 2 * i) }
        guard short(0) == 1 else { throw Self.fail("GeoKeyDirectory version \(short(0))") }
        let declared = UInt64(short(3))
        guard 4 + 4 * declared <= e.count else {
            throw Self.fail("GeoKeyDirectory of \(e.count) values for \(declared) keys")
        }
        var keys: [UInt16: UInt16] = [:]
        for k in 0..<declared {
            let at = 4 + 4 * k
            let id = short(at), location = short(at + 1), count = short(at + 2), value = short(at + 3)
            if location == 0, count == 1, keys[id] == nil { keys[id] = value }
        }
        return keys
    }

    /// ProjectedCSTypeGeoKey, else (for a CRS that is not projected) GeographicTypeGeoKey; nil
    /// when user-defined (32767) or absent.
    static func epsg(_ keys: [UInt16: UInt16]) -> Int? {
        let valid = 1...32766
        if let projected = keys[GeoKey.projectedCSType] {
            return valid.contains(Int(projected)) ? Int(projected) : nil
        }
        // A projected model without a ProjectedCSTypeGeoKey is user-defined: its geographic
        // base CRS is not the raster's CRS.
        if keys[GeoKey.modelType] == 1 { return nil }
        if let geographic = keys[GeoKey.geographicType], valid.contains(Int(geographic)) { return Int(geographic) }
        return nil
    }

    /// GDAL's geotransform (GTiffDataset::LoadGeoreferencing, GDAL 3.6): ModelPixelScale with
    /// nonzero X and Y scales plus a first tie point wins over ModelTransformation (used only
    /// with exactly 16 values); a negative Y scale is taken as north-up (GDAL's default,
    /// GTIFF_HONOUR_NEGATIVE_SCALEY unset); PixelIsPoint moves the origin half a pixel
    /// up-left (GTIFF_POINT_GEO_IGNORE=FALSE, the default).
    func geoTransform(_ entries: [UInt16: TiffEntry], pixelIsPoint: Bool) throws -> [Double] {
        var gt: [Double]?
        if let scale = try doubleArray(entries[Tag.modelPixelScale], max: 2), scale.count >= 2,
           scale[0] != 0, scale[1] != 0 {
            if let tie = try doubleArray(entries[Tag.modelTiepoint], max: 6), tie.count >= 6 {
                var t = [0, scale[0], 0, 0, 0, scale[1] < 0 ? scale[1] : -scale[1]]
                t[0] = tie[3] - tie[0] * t[1]
                t[3] = tie[4] - tie[1] * t[5]
                gt = t
            }
        } else if let m = entries[Tag.modelTransformation], m.count == 16,
                  let matrix = try doubleArray(m, max: 16) {
            gt = [matrix[3], matrix[0], matrix[1], matrix[7], matrix[4], matrix[5]]
        }
        guard var gt else { throw Self.fail("no georeferencing (ModelPixelScale + ModelTiepoint or ModelTransformation)") }
        if pixelIsPoint {
            gt[0] -= gt[1] * 0.5 + gt[2] * 0.5
            gt[3] -= gt[4] * 0.5 + gt[5] * 0.5
        }
        return gt
    }

    /// GDAL_NODATA: ASCII, a number, "nan" or "inf".
    func noData(_ e: TiffEntry?) throws -> (Double?, Bool) {
        guard let e else { return (nil, false) }
        guard e.type == 2 else { throw Self.fail("GDAL_NODATA of field type \(e.type), not ASCII") }
        // At most a few dozen characters make a number; longer text is refused without copying it.
        guard e.count <= 256 else { throw Self.fail("GDAL_NODATA of \(e.count) characters") }
        var chars: [UInt8] = []
        for i in 0..<e.count {
            let c = u8(e.position + i)
            if c == 0 { break }
            chars.append(c)
        }
        let text = String(decoding: chars, as: UTF8.self)
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        var trimmed = Substring(text)
        while let c = trimmed.first, blank(c) { trimmed.removeFirst() }
        while let c = trimmed.last, blank(c) { trimmed.removeLast() }
        let lower = trimmed.lowercased()
        if lower == "nan" || lower == "-nan" || lower == "+nan" { return (nil, true) }
        guard let value = Double(trimmed), !value.isNaN else { throw Self.fail("GDAL_NODATA '\(text)'") }
        return (value, false)
    }
}
