import CubeCore
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
    private var parallel: ParallelFetcher?
    /// Shared with the other read lanes of a worker, if any.
    private let help: DecodeHelp?

    init(help: DecodeHelp? = nil) {
        self.help = help
    }

    deinit {
        tileBuffer.free()
        compressedBuffer.free()
    }

    /// The blocks of `tiled` holding a covered target pixel that is needed (all covered
    /// pixels when `needed` is nil), with where each is stored, and how many blocks hold a
    /// covered pixel at all.
    func neededBlocks(_ tiled: TiledBand, groups: BlockGroups, needed: UnsafeBufferPointer<UInt8>?) throws
        -> (blocks: [Block], present: Int) {
        var blocks: [Block] = []
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
                    blocks.append(Block(group: g, col: groups.firstCol + g % groups.across,
                                        row: groups.firstRow + g / groups.across, offset: 0, size: 0))
                }
            }
        }
        for i in blocks.indices {
            (blocks[i].offset, blocks[i].size) = try tiled.location(col: blocks[i].col, row: blocks[i].row)
        }
        return (blocks, present)
    }

    struct Block {
        var group: Int
        var col: Int
        var row: Int
        var offset: UInt64
        var size: Int
    }

    /// Fetches the blocks of `tiled` that hold a needed target pixel (all covered pixels
    /// when `needed` is nil), decodes them and gathers the target pixels straight from each
    /// decoded tile into `out` (0 elsewhere). Returns the number of source pixels decoded.
    /// Blocks already requested from `prefetch` are taken from it; the rest are fetched here.
    func read<T: WarpSample>(_ tiled: TiledBand, groups: BlockGroups, into out: UnsafeMutableBufferPointer<T>,
                             needed: UnsafeBufferPointer<UInt8>?, prefetch: TilePrefetch?,
                             stats: inout ReadStats) throws -> Int {
        let layout = tiled.layout
        memset(out.baseAddress!, 0, out.count * MemoryLayout<T>.stride)
        let (blocks, present) = try neededBlocks(tiled, groups: groups, needed: needed)
        stats.blocksRead += blocks.count
        stats.blocksSkipped += present - blocks.count
        // Bytes of prefetched blocks, kept until decoded.
        var taken: [Int: (owner: TilePrefetch.Bytes, start: UnsafeRawPointer)] = [:]
        var missing: [Int] = []
        for (i, b) in blocks.enumerated() where b.size > 0 {
            guard let prefetch, let remote = tiled.remote else { missing.append(i); continue }
            switch prefetch.take(remote.url, offset: b.offset, size: b.size) {
            case .bytes(let owner, let start): taken[i] = (owner, start)
            case .notRequested: missing.append(i)
            case .failed(.changed(let why)): throw StaleObject(description: why)
            case .failed(let outcome): throw TileDecodeError("prefetch: \(outcome)", transient: outcome.isTransient)
            }
        }
        stats.tilesPrefetched += taken.count
        let tile = tileBuffer.bytes(layout.blockBytes)
        // Decodes block i from `bytes` and gathers its pixels.
        let decodeBlock = { (i: Int, bytes: UnsafeRawPointer, decoder: TileDecoder, tile: UnsafeMutableRawBufferPointer) throws in
            let b = blocks[i]
            let rows = min(layout.blockHeight, layout.height - b.row * layout.blockHeight)
            let need = (rows: Int(groups.firstRows[b.group])..<Int(groups.rowEnds[b.group]),
                        columns: Int(groups.colEnds[b.group]))
            try decoder.decode(UnsafeRawBufferPointer(start: bytes, count: b.size), layout: layout,
                               rows: rows, need: need, into: tile)
            Self.gatherGroup(b.group, groups, tile: tile.baseAddress!.assumingMemoryBound(to: T.self), into: out)
        }
        func decodeAll(_ items: [(block: Int, bytes: UnsafeRawPointer)]) throws {
            if let help, items.count >= 2, help.hasIdleLane {
                try help.run(count: items.count, decoder: decoder, buffer: &tileBuffer) { k, decoder, buffer in
                    try decodeBlock(items[k].block, items[k].bytes, decoder, buffer.bytes(layout.blockBytes))
                }
            } else {
                for item in items { try decodeBlock(item.block, item.bytes, decoder, tile) }
            }
        }
        if !taken.isEmpty {
            try decodeAll(taken.keys.sorted().map { ($0, taken[$0]!.start) })
        }
        var start = 0
        while start < missing.count {
            // One batch: blocks up to `batchBytes` of compressed data (at least one).
            var end = start, total = 0
            while end < missing.count && (end == start || total + blocks[missing[end]].size <= batchBytes) {
                total += blocks[missing[end]].size
                end += 1
            }
            let batch = compressedBuffer.bytes(max(1, total))
            var pointers: [UnsafeMutableRawPointer] = [], offsets: [UInt64] = [], sizes: [Int] = []
            var items: [(block: Int, bytes: UnsafeRawPointer)] = []
            var at = 0
            for i in missing[start..<end] {
                pointers.append(batch.baseAddress! + at)
                offsets.append(blocks[i].offset)
                sizes.append(blocks[i].size)
                items.append((i, UnsafeRawPointer(batch.baseAddress! + at)))
                at += blocks[i].size
            }
            try tiled.bytes.read(offsets: offsets, sizes: sizes, into: pointers)
            try decodeAll(items)
            start = end
        }
        if let noData = tiled.noData { T.zeroNoData(out, noData: noData) }
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
        if let bytes = scene.bytes, let dataset = try? scene.dataset(),
           let header = try? (VSIFile(path: dataset.path).read(offset: 0, count: 2)),
           let layout = source.tiffTileLayout(header: header) {
            result = TiledBand(layout: layout, noData: source.noDataValue, bytes: bytes, remote: nil) { col, row in
                source.tiffBlockLocation(col: col, row: row)
            }
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
        return try? VSIFile(path: gdalPath(forHref: scene.href))
    }

    /// An indexed http(s) object: tiles through the reader's fetcher, checked against what
    /// was indexed (size, ETag).
    func remoteSource(_ remote: RemoteObject) -> TileByteSource {
        if parallel == nil { parallel = try? ParallelFetcher(maxParallel: 8) }
        return IndexedHTTPSource(remote: remote, fetcher: parallel)
    }

    private static let gdalHTTPOptions = gdalHasHTTPRequestOptions()
}

/// A band read tile by tile: its layout and where each block is stored (from the asset's
/// indexed header, or asked of GDAL's GTiff driver).
final class TiledBand {
    let layout: TiffTileLayout
    let noData: Double?
    let bytes: TileByteSource
    /// Set for http(s) objects: the key of their prefetched tiles and what was indexed.
    let remote: RemoteObject?
    private let locate: (Int, Int) -> (offset: UInt64, size: Int)?
    private var locations: [Int: (offset: UInt64, size: Int)] = [:]

    init(layout: TiffTileLayout, noData: Double?, bytes: TileByteSource, remote: RemoteObject?,
         locate: @escaping (Int, Int) -> (offset: UInt64, size: Int)?) {
        self.layout = layout
        self.noData = noData
        self.bytes = bytes
        self.remote = remote
        self.locate = locate
    }

    func location(col: Int, row: Int) throws -> (offset: UInt64, size: Int) {
        let key = row * layout.blocksAcross + col
        if let known = locations[key] { return known }
        guard let found = locate(col, row) else {
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

/// An indexed http(s) (or signed s3) object: ranges fetched in parallel and checked against the
/// object's indexed size and ETag, so a replaced object is never decoded with a stale layout.
final class IndexedHTTPSource: TileByteSource {
    let remote: RemoteObject
    let fetcher: ParallelFetcher?

    init(remote: RemoteObject, fetcher: ParallelFetcher?) {
        self.remote = remote
        self.fetcher = fetcher
    }

    func read(offsets: [UInt64], sizes: [Int], into buffers: [UnsafeMutableRawPointer]) throws {
        guard let fetcher else { throw TileDecodeError("no HTTP connection pool") }
        let requests = offsets.indices.map {
            RangeRequest(url: remote.url, offset: offsets[$0], size: sizes[$0], expectedObjectSize: remote.size,
                         expectedETag: remote.etag, signing: remote.signing, headers: remote.headers)
        }
        var first: RangeOutcome?
        fetcher.fetch(requests, into: buffers) { i, outcome in
            if case .ok(_, _, let received) = outcome, received == sizes[i] { return }
            if case .ok = outcome {
                if first == nil { first = .failed("the object ends before the block", transient: false) }
                return
            }
            if first == nil { first = outcome }
            if case .changed = outcome { first = outcome }
        }
        switch first {
        case nil: return
        case .changed(let why)?: throw StaleObject(description: why)
        case let other?: throw TileDecodeError("\(other)", transient: other.isTransient)
        }
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
