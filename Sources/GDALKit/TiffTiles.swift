import CGDAL
import Foundation

/// How a GeoTIFF band stores its blocks, as far as a reader that decodes tiles itself needs
/// to know: what GDAL's GTiff driver reports, nothing parsed by hand.
public struct TiffTileLayout: Equatable, Sendable {
    public enum Compression: Equatable, Sendable { case none, deflate }
    public let blockWidth: Int
    public let blockHeight: Int
    public let blocksAcross: Int
    public let blocksDown: Int
    public let bytesPerSample: Int
    public let compression: Compression
    /// TIFF predictor: 1 (none) or 2 (horizontal differencing).
    public let predictor: Int
    public let bigEndian: Bool
    /// Image size, to know how many rows of the last block row are real.
    public let width: Int
    public let height: Int

    public var blockBytes: Int { blockWidth * blockHeight * bytesPerSample }

    public init(blockWidth: Int, blockHeight: Int, blocksAcross: Int, blocksDown: Int, bytesPerSample: Int,
                compression: Compression, predictor: Int, bigEndian: Bool, width: Int, height: Int) {
        self.blockWidth = blockWidth
        self.blockHeight = blockHeight
        self.blocksAcross = blocksAcross
        self.blocksDown = blocksDown
        self.bytesPerSample = bytesPerSample
        self.compression = compression
        self.predictor = predictor
        self.bigEndian = bigEndian
        self.width = width
        self.height = height
    }
}

extension RasterBand {
    /// The band's tile layout when it is a plain full-resolution GeoTIFF band whose blocks a
    /// caller can decode on its own: unsigned 8 or 16-bit integers, no or DEFLATE compression,
    /// predictor 1 or 2, one sample per block pixel (single band or band-interleaved). nil for
    /// anything else (the caller then reads through GDAL).
    /// `header` is the file's first two bytes (its byte order mark).
    public func tiffTileLayout(header: [UInt8]) -> TiffTileLayout? {
        guard let driver = GDALGetDatasetDriver(dataset.handle),
              String(cString: GDALGetDriverShortName(driver)) == "GTiff" else { return nil }
        let type = GDALGetRasterDataType(handle)
        guard type == GDT_Byte || type == GDT_UInt16 else { return nil }
        func item(_ name: String, _ domain: String, band: Bool = true) -> String? {
            let raw = band ? GDALGetMetadataItem(handle, name, domain)
                           : GDALGetMetadataItem(dataset.handle, name, domain)
            return raw.map { String(cString: $0) }
        }
        // Sub-byte or odd bit depths, signed bytes and pixel interleaving need GDAL's unpacking.
        if item("NBITS", "IMAGE_STRUCTURE") != nil || item("PIXELTYPE", "IMAGE_STRUCTURE") != nil { return nil }
        if dataset.bandCount > 1 && item("INTERLEAVE", "IMAGE_STRUCTURE", band: false) != "BAND" { return nil }
        let compression: TiffTileLayout.Compression
        switch item("COMPRESSION", "IMAGE_STRUCTURE", band: false) {
        case nil: compression = .none
        case "DEFLATE": compression = .deflate
        default: return nil
        }
        let predictor = Int(item("PREDICTOR", "IMAGE_STRUCTURE", band: false) ?? "1") ?? 0
        guard predictor == 1 || predictor == 2 else { return nil }
        // The GTiff driver reports block offsets (BLOCK_OFFSET_x_y, none for sparse blocks);
        // the byte order is the file header's.
        let order = header
        guard order == [0x49, 0x49] || order == [0x4D, 0x4D] else { return nil }
        let (bw, bh) = blockSize
        let w = Int(GDALGetRasterBandXSize(handle)), h = Int(GDALGetRasterBandYSize(handle))
        guard bw > 0, bh > 0 else { return nil }
        return TiffTileLayout(blockWidth: bw, blockHeight: bh, blocksAcross: (w + bw - 1) / bw,
                              blocksDown: (h + bh - 1) / bh, bytesPerSample: type == GDT_Byte ? 1 : 2,
                              compression: compression, predictor: predictor, bigEndian: order[0] == 0x4D,
                              width: w, height: h)
    }

    /// Where block (col, row) is stored in the file; nil when GDAL does not say: a sparse
    /// (never written) block, or offsets it could not read (a truncated file). Callers read
    /// such blocks through GDAL, which tells the two apart.
    public func tiffBlockLocation(col: Int, row: Int) -> (offset: UInt64, size: Int)? {
        guard let off = GDALGetMetadataItem(handle, "BLOCK_OFFSET_\(col)_\(row)", "TIFF"),
              let offset = UInt64(String(cString: off)),
              let sizeRaw = GDALGetMetadataItem(handle, "BLOCK_SIZE_\(col)_\(row)", "TIFF"),
              let size = Int(String(cString: sizeRaw)), size > 0 else { return nil }
        return (offset, size)
    }
}

/// Options that change GDAL's HTTP requests (authentication, extra headers, cookies): when
/// one is set, remote bytes must be fetched through GDAL so that it applies.
public func gdalHasHTTPRequestOptions() -> Bool {
    GDAL.initialize()
    let names = ["GDAL_HTTP_HEADERS", "GDAL_HTTP_HEADER_FILE", "GDAL_HTTP_AUTH", "GDAL_HTTP_USERPWD",
                 "GDAL_HTTP_BEARER", "GDAL_HTTP_COOKIE", "GDAL_HTTP_COOKIEFILE", "GDAL_HTTP_NETRC_FILE",
                 "GDAL_HTTP_SSLCERT", "GDAL_HTTP_UNSAFESSL", "GDAL_HTTP_PROXY", "GDAL_HTTPS_PROXY",
                 "GDAL_HTTP_USERAGENT", "CPL_CURL_VERBOSE"]
    return names.contains { CPLGetConfigOption($0, nil) != nil }
}

/// A file read through GDAL's virtual file systems (`/vsicurl/`, `/vsis3/`, local paths), so
/// byte ranges share GDAL's connection reuse, credentials, retries and network statistics.
/// Not thread safe: one per thread.
public final class VSIFile {
    let handle: UnsafeMutablePointer<VSILFILE>
    public let path: String

    public init(path: String) throws {
        GDAL.initialize()
        RecentErrors.clear()
        guard let h = VSIFOpenL(path, "rb") else { throw GDALError.last("cannot open \(path)") }
        handle = h
        self.path = path
    }

    deinit { _ = VSIFCloseL(handle) }

    /// The size of the file (its end offset).
    public var size: UInt64? {
        guard VSIFSeekL(handle, 0, SEEK_END) == 0 else { return nil }
        return UInt64(VSIFTellL(handle))
    }

    public func read(offset: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        RecentErrors.clear()
        let got = bytes.withUnsafeMutableBytes { buf -> Int in
            guard VSIFSeekL(handle, offset, SEEK_SET) == 0 else { return -1 }
            return Int(VSIFReadL(buf.baseAddress, 1, count, handle))
        }
        guard got == count else { throw GDALError.last("short read of \(count) bytes at \(offset) of \(path)") }
        return bytes
    }

    /// Reads several ranges at once into `buffers[i]` (each at least `sizes[i]` bytes): remote
    /// files fetch them in parallel HTTP requests, merging neighbours.
    public func read(offsets: [UInt64], sizes: [Int], into buffers: [UnsafeMutableRawPointer]) throws {
        precondition(offsets.count == sizes.count && sizes.count == buffers.count)
        guard !offsets.isEmpty else { return }
        RecentErrors.clear()
        var pointers: [UnsafeMutableRawPointer?] = buffers
        var offs: [vsi_l_offset] = offsets
        var lens: [Int] = sizes
        let status = VSIFReadMultiRangeL(Int32(offsets.count), &pointers, &offs, &lens, handle)
        guard status == 0 else {
            throw GDALError.last("reading \(offsets.count) byte ranges of \(path)")
        }
    }
}
