import CubeGrid
import CubeSchema
import CubeStore
import Foundation
import GDALKit
import Synchronization

/// Renders web map tiles (EPSG:3857, 256² pixels, XYZ numbering) from a cube's pyramid:
/// each tile pixel's centre is mapped to the cube's CRS, the coarsest level whose pixels are
/// no larger than the tile's is sampled (nearest), the bands are stretched to 0–255 and pixels
/// without data are transparent. Decoded chunks are kept in a small shared cache.
final class TileRenderer: Sendable {
    static let size = 256
    static let halfWorld = 20037508.342789244

    let layout: CubeLayout
    let writer: ChunkWriter
    private let cache: ChunkCache

    init(layout: CubeLayout, store: any Store, cacheChunks: Int = 256) {
        self.layout = layout
        writer = ChunkWriter(layout: layout, store: store)
        cache = ChunkCache(capacity: cacheChunks)
    }

    struct Request: Sendable {
        var bin: Int
        var z: Int, x: Int, y: Int
        /// 1 (grey) or 3 (red, green, blue) uint16 arrays.
        var bands: [String]
        /// Stored values mapped to 0 and 255.
        var min: Double, max: Double
    }

    /// The level a tile of zoom `z` reads: pixels no larger than the tile's at its centre.
    func level(forSpacing spacing: Double) -> Int {
        var chosen = 0
        for l in layout.levels where l.resolutionX <= spacing * 1.0001 { chosen = l.level }
        return chosen
    }

    func render(_ r: Request) throws -> (png: Data, level: Int) {
        let n = Self.size
        let tiles = Double(1 << r.z)
        let span = 2 * Self.halfWorld / tiles
        let west = -Self.halfWorld + Double(r.x) * span, north = Self.halfWorld - Double(r.y) * span
        let step = span / Double(n)
        var xs = [Double](repeating: 0, count: n * n), ys = [Double](repeating: 0, count: n * n)
        for row in 0..<n {
            for col in 0..<n {
                xs[row * n + col] = west + (Double(col) + 0.5) * step
                ys[row * n + col] = north - (Double(row) + 0.5) * step
            }
        }
        let crs = layout.grid.crs
        if crs.epsg != 3857 {
            // One transform per tile: PROJ transforms are not shared between threads.
            let t = try CRS("EPSG:3857").transform(to: crs)
            xs.withUnsafeMutableBufferPointer { xb in ys.withUnsafeMutableBufferPointer { yb in _ = t.transform(x: xb, y: yb) } }
        }
        // Pixel spacing in cube units at the tile's centre.
        let c = (n / 2) * n + n / 2
        let spacing = hypot(xs[c + 1] - xs[c], ys[c + 1] - ys[c])
        let levelIndex = spacing.isFinite ? level(forSpacing: spacing) : 0
        let level = layout.levels[levelIndex]
        var rgba = [UInt8](repeating: 0, count: n * n * 4)
        var planes: [[UInt16]?] = []
        var planeKey: (cy: Int, cx: Int) = (-1, -1)
        // The chunks this tile touches (a few), so crossing a chunk edge costs no lock.
        var touched: [Int: [[UInt16]?]] = [:]
        let scale = 255 / Swift.max(1e-9, r.max - r.min)
        for p in 0..<(n * n) {
            let x = xs[p], y = ys[p]
            guard x.isFinite, y.isFinite else { continue }
            let colF = (x - level.left) / level.resolutionX, rowF = (level.top - y) / level.resolutionY
            guard colF >= 0, rowF >= 0 else { continue }
            let col = Int(colF), row = Int(rowF)
            guard col < level.width, row < level.height else { continue }
            let cy = row / level.chunk, cx = col / level.chunk
            if planeKey.cy != cy || planeKey.cx != cx {
                let k = cy * level.chunkCols + cx
                if let known = touched[k] {
                    planes = known
                } else {
                    planes = try r.bands.map { try chunk(array: $0, level: levelIndex, bin: r.bin, cy: cy, cx: cx) }
                    touched[k] = planes
                }
                planeKey = (cy, cx)
            }
            let w = level.chunkWindow(cy: cy, cx: cx)
            let i = (row - w.row) * w.width + (col - w.col)
            // One band (grey) or three; no data in any band leaves the pixel transparent.
            guard let p0 = planes[0], p0[i] != 0 else { continue }
            var rgb = (p0[i], p0[i], p0[i])
            if r.bands.count == 3 {
                guard let p1 = planes[1], let p2 = planes[2], p1[i] != 0, p2[i] != 0 else { continue }
                rgb = (p0[i], p1[i], p2[i])
            }
            @inline(__always) func byte(_ v: UInt16) -> UInt8 {
                UInt8(Swift.max(0, Swift.min(255, ((Double(v) - r.min) * scale).rounded())))
            }
            rgba[p * 4] = byte(rgb.0)
            rgba[p * 4 + 1] = byte(rgb.1)
            rgba[p * 4 + 2] = byte(rgb.2)
            rgba[p * 4 + 3] = 255
        }
        return (PNGEncoder.encode(width: n, height: n, rgba: rgba), levelIndex)
    }

    /// A decoded uint16 chunk of a level (nil: never written, all no data).
    func chunk(array: String, level: Int, bin: Int, cy: Int, cx: Int) throws -> [UInt16]? {
        let key = ChunkCache.Key(array: array, level: level, bin: bin, cy: cy, cx: cx)
        if let hit = cache.get(key) { return hit.values }
        let values = try writer.read(array: array, level: level, bin: bin, cy: cy, cx: cx)
        cache.put(key, ChunkCache.Entry(values: values))
        return values
    }
}

/// The last `capacity` chunks decoded (least recently used out), shared by the server's threads.
final class ChunkCache: Sendable {
    struct Key: Hashable, Sendable {
        let array: String
        let level: Int, bin: Int, cy: Int, cx: Int
    }
    struct Entry: Sendable { let values: [UInt16]? }

    private let state: Mutex<(entries: [Key: (Entry, Int)], clock: Int)>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
        state = Mutex(([:], 0))
    }

    func get(_ key: Key) -> Entry? {
        state.withLock { s in
            guard let (entry, _) = s.entries[key] else { return nil }
            s.clock += 1
            s.entries[key] = (entry, s.clock)
            return entry
        }
    }

    func put(_ key: Key, _ entry: Entry) {
        state.withLock { s in
            s.clock += 1
            s.entries[key] = (entry, s.clock)
            if s.entries.count > capacity, let oldest = s.entries.min(by: { $0.value.1 < $1.value.1 })?.key {
                s.entries[oldest] = nil
            }
        }
    }
}
