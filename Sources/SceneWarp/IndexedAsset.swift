import GDALKit
import TiffIndex

/// An asset as the cube's header index knows it: its COG header (read once per build) and, for
/// remote objects, its size and ETag then. A reader opens it without a request.
public struct IndexedAsset: Sendable {
    public let href: String
    public let header: CogHeader
    /// http(s) objects (and s3 objects through their signed HTTP endpoint); nil for local files.
    public let remote: RemoteObject?

    /// The overview level `header` describes (0: full resolution).
    public let level: Int

    public init(href: String, header: CogHeader, remote: RemoteObject?, level: Int = 0) {
        self.href = href
        self.header = header
        self.remote = remote
        self.level = level
    }

    /// Overview levels the indexed file has (beyond full resolution).
    public var overviewCount: Int { level == 0 ? header.overviews.count : 0 }

    /// The same object read at overview level `n` (clamped to the coarsest it has): a header of
    /// that level's own size, blocks and scaled geotransform (`CogHeader.level`).
    public func atLevel(_ n: Int) -> IndexedAsset {
        guard level == 0 else { return self }
        let n = min(max(0, n), header.overviews.count)
        guard n > 0 else { return self }
        return IndexedAsset(href: href, header: header.level(n), remote: remote, level: n)
    }

    /// The layout the tile reader decodes, or nil when only GDAL can read the asset: unsigned
    /// 8 or 16-bit samples, no or DEFLATE compression, predictor 1 or 2, one sample per pixel
    /// (or band-separate planes, of which band 1 is the first).
    public var tileLayout: TiffTileLayout? {
        let h = header
        guard h.sampleFormat == 1, h.bitsPerSample == 8 || h.bitsPerSample == 16,
              h.samplesPerPixel == 1 || h.planarConfiguration == 2,
              h.predictor == 1 || h.predictor == 2,
              h.blockWidth > 0, h.blockHeight > 0, h.width > 0, h.height > 0 else { return nil }
        let compression: TiffTileLayout.Compression
        switch h.compression {
        case 1: compression = .none
        case 8, 32946: compression = .deflate
        default: return nil
        }
        return TiffTileLayout(blockWidth: h.blockWidth, blockHeight: h.blockHeight, blocksAcross: h.blocksAcross,
                              blocksDown: h.blocksDown, bytesPerSample: h.bitsPerSample / 8, compression: compression,
                              predictor: h.predictor, bigEndian: h.bigEndian, width: h.width, height: h.height)
    }
}
