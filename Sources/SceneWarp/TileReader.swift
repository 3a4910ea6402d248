import Foundation
import GDALKit
import HTTPClient

/// Reads a band's stored tiles instead of going through GDAL's RasterIO: only the blocks that
/// hold a needed target pixel are fetched (byte ranges), inflated (`TileDecoder`) and the
/// target pixels copied out of each tile (`BlockGroups`). Used by `SceneReader` for the
/// layouts `TiffTileLayout` accepts; any error sends the plane back to GDAL there.
/// Not thread safe: one per scene reader (idle lanes may decode some of its tiles through
/// `DecodeHelp`, on their own buffers).
final class TileReader {
    /// One decoded tile and one batch of compressed tiles, reused from plane to plane.
    private let decoder = TileDecoder()
    private var tileBuffer = GrowableBuffer()
    private var compressedBuffer = GrowableBuffer()
    /// Compressed bytes fetched in one multi-range request (more tiles go in further batches).
    private let batchBytes = 32 << 20
    /// For http(s) tiles, made on first use.
    private var fetcher: RangeFetcher?
    /// Shared with the other read lanes of a worker, if any.
    private let help: DecodeHelp?

    init(help: DecodeHelp? = nil) {
        self.help = help
    }

    deinit {
        tileBuffer.free()
        compressedBuffer.free()
    }

    /// Fetches the blocks of `tiled` that hold a needed target pixel (all covered pixels
    /// when `needed` is nil), decodes them and gathers the target pixels straight from each
    /// decoded tile into `out` (0 elsewhere). Returns the number of source pixels decoded.
    func read<T: WarpSample>(_ tiled: TiledBand, groups: BlockGroups, into out: UnsafeMutableBufferPointer<T>,
                             needed: UnsafeBufferPointer<UInt8>?, stats: inout ReadStats) throws -> Int {
        let layout = tiled.layout
        memset(out.baseAddress!, 0, out.count * MemoryLayout<T>.stride)
        // Blocks to fetch: those holding a covered target pixel that is needed.
        var blocks: [(group: Int, col: Int, row: Int, offset: UInt64, size: Int)] = []
        var present = 0
        groups.starts.withUnsafeBufferPointer { starts in
            groups.targets.withUnsafeBufferPointer { targets in
                for g in 0..<groups.groupCount where starts[g] < starts[g + 1] {
                    present += 1
                    if let needed {
                        var any = false
                        for j in Int(starts[g])..<Int(starts[g + 1]) where needed[Int(targets[j])] != 0 { any = true; break }
                        if !any { continue }
                    }
                    blocks.append((g, groups.firstCol + g % groups.across, groups.firstRow + g / groups.across, 0, 0))
                }
            }
        }
        for i in blocks.indices {
            (blocks[i].offset, blocks[i].size) = try tiled.location(col: blocks[i].col, row: blocks[i].row)
        }
        stats.blocksRead += blocks.count
        stats.blocksSkipped += present - blocks.count
        let tile = tileBuffer.bytes(layout.blockBytes)
        var start = 0
        while start < blocks.count {
            // One batch: consecutive blocks up to `batchBytes` of compressed data (at least one).
            var end = start, total = 0
            while end < blocks.count && (end == start || total + blocks[end].size <= batchBytes) {
                total += blocks[end].size
                end += 1
            }
            let batch = compressedBuffer.bytes(max(1, total))
            var pointers: [UnsafeMutableRawPointer] = [], offsets: [UInt64] = [], sizes: [Int] = []
            var at = 0
            for b in blocks[start..<end] where b.size > 0 {
                pointers.append(batch.baseAddress! + at)
                offsets.append(b.offset)
                sizes.append(b.size)
                at += b.size
            }
            try tiled.bytes.read(offsets: offsets, sizes: sizes, into: pointers)
            // Each block's compressed bytes in `batch`, then decode and gather.
            let items: [(block: Int, at: Int)] = { [blocks] in
                var list: [(block: Int, at: Int)] = [], at = 0
                for i in start..<end where blocks[i].size > 0 {
                    list.append((i, at))
                    at += blocks[i].size
                }
                return list
            }()
            let decodeItem = { [blocks] (k: Int, decoder: TileDecoder, tile: UnsafeMutableRawBufferPointer) throws in
                let b = blocks[items[k].block], at = items[k].at
                let rows = min(layout.blockHeight, layout.height - b.row * layout.blockHeight)
                let need = (rows: Int(groups.firstRows[b.group])..<Int(groups.rowEnds[b.group]),
                            columns: Int(groups.colEnds[b.group]))
                try decoder.decode(UnsafeRawBufferPointer(rebasing: batch[at..<(at + b.size)]), layout: layout,
                                   rows: rows, need: need, into: tile)
                Self.gatherGroup(b.group, groups, tile: tile.baseAddress!.assumingMemoryBound(to: T.self), into: out)
            }
            if let help, items.count >= 2, help.hasIdleLane {
                try help.run(count: items.count, decoder: decoder, buffer: &tileBuffer) { k, decoder, buffer in
                    try decodeItem(k, decoder, buffer.bytes(layout.blockBytes))
                }
            } else {
                for k in items.indices { try decodeItem(k, decoder, tile) }
            }
            start = end
        }
        if let noData = tiled.band.noDataValue { T.zeroNoData(out, noData: noData) }
        stats.tilePlanes += 1
        return blocks.count * layout.blockWidth * layout.blockHeight
    }

    private static func gatherGroup<T: WarpSample>(_ g: Int, _ groups: BlockGroups, tile: UnsafePointer<T>,
                                            into out: UnsafeMutableBufferPointer<T>) {
        groups.starts.withUnsafeBufferPointer { starts in
            groups.targets.withUnsafeBufferPointer { targets in
                groups.offsets.withUnsafeBufferPointer { offsets in
                    let lo = Int(starts[g]), hi = Int(starts[g + 1])
                    T.gather(tile: tile, offsets: UnsafeBufferPointer(rebasing: offsets[lo..<hi]),
                             targets: UnsafeBufferPointer(rebasing: targets[lo..<hi]), into: out)
                }
            }
        }
    }

    /// The band read tile by tile, when its layout allows and its samples are `bytes` wide.
    func tiledBand(_ scene: OpenScene, _ band: Int, _ source: RasterBand, bytes: Int) -> TiledBand? {
        if let known = scene.tiled[band] { return known.flatMap { $0.layout.bytesPerSample == bytes ? $0 : nil } }
        var result: TiledBand?
        if scene.bytes == nil { scene.bytes = tileBytes(for: scene) }
        // The byte order through GDAL's file system: the open has just read the file's first
        // bytes into its cache, so this costs no request (a round trip per asset otherwise).
        if let bytes = scene.bytes, let header = try? (VSIFile(path: scene.dataset.path).read(offset: 0, count: 2)),
           let layout = source.tiffTileLayout(header: header) {
            result = TiledBand(layout: layout, band: source, bytes: bytes)
        }
        scene.tiled[band] = .some(result)
        return result.flatMap { $0.layout.bytesPerSample == bytes ? $0 : nil }
    }

    /// http(s) hrefs through the reader's own fetcher unless GDAL HTTP options (auth,
    /// headers) are set; everything else through GDAL's virtual file systems.
    private func tileBytes(for scene: OpenScene) -> TileByteSource? {
        let lower = scene.href.prefix(8).lowercased()
        if (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && !Self.gdalHTTPOptions {
            if fetcher == nil { fetcher = try? RangeFetcher() }
            if let fetcher { return HTTPTileSource(url: scene.href, fetcher: fetcher) }
        }
        return try? VSIFile(path: scene.dataset.path)
    }

    private static let gdalHTTPOptions = gdalHasHTTPRequestOptions()
}

/// A band read tile by tile: its layout and where each block is stored.
final class TiledBand {
    let layout: TiffTileLayout
    let band: RasterBand
    let bytes: TileByteSource
    private var locations: [Int: (offset: UInt64, size: Int)] = [:]

    init(layout: TiffTileLayout, band: RasterBand, bytes: TileByteSource) {
        self.layout = layout
        self.band = band
        self.bytes = bytes
    }

    func location(col: Int, row: Int) throws -> (offset: UInt64, size: Int) {
        let key = row * layout.blocksAcross + col
        if let known = locations[key] { return known }
        guard let found = band.tiffBlockLocation(col: col, row: row) else {
            throw TileDecodeError("block (\(col), \(row)) is sparse or its offset unreadable")
        }
        locations[key] = found
        return found
    }
}

/// Where stored tiles come from: byte ranges of the asset.
protocol TileByteSource: AnyObject {
    func read(offsets: [UInt64], sizes: [Int], into buffers: [UnsafeMutableRawPointer]) throws
}

extension TileByteSource {
    func read(offset: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(offsets: [offset], sizes: [count], into: [$0.baseAddress!]) }
        return bytes
    }
}

/// Local files and object stores: GDAL's virtual file systems (credentials, signing).
extension VSIFile: TileByteSource {}

/// http(s) assets: cube's own parallel range fetcher (GDAL's /vsicurl/ copies every range
/// through growing buffers, which costs more than decoding some tiles).
final class HTTPTileSource: TileByteSource {
    let url: String
    let fetcher: RangeFetcher

    init(url: String, fetcher: RangeFetcher) {
        self.url = url
        self.fetcher = fetcher
    }

    func read(offsets: [UInt64], sizes: [Int], into buffers: [UnsafeMutableRawPointer]) throws {
        try fetcher.fetch(url: url, offsets: offsets, sizes: sizes, into: buffers)
    }
}

/// A reusable raw buffer that only grows.
struct GrowableBuffer {
    private var pointer: UnsafeMutableRawPointer?
    private var capacity = 0

    mutating func bytes(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if count > capacity {
            pointer?.deallocate()
            pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
            capacity = count
        }
        return UnsafeMutableRawBufferPointer(start: pointer, count: count)
    }

    mutating func free() {
        pointer?.deallocate()
        pointer = nil
        capacity = 0
    }
}
