import CubePlan
import CubePyramid
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import Testing

/// The pyramid builder against its rule (PyramidBuilder's doc comment), computed here level by
/// level from the whole base image: uint16 = mean of the valid cells rounded half up (0 when
/// none), count = sum capped at 65535; all-empty chunks absent; done markers; invalidation.
@Suite struct PyramidBuilderTests {
    struct Cube {
        let root: String
        let store: LocalStore
        let layout: CubeLayout
        let plan: Plan
    }

    /// A 70 x 50 pixel grid in chunks of 16 (partial edge chunks), bands red and nir, a pyramid.
    func cube() throws -> Cube {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pyramid-\(UUID().uuidString)").path
        let yaml = """
        name: pyr
        stac: {items: items.ndjson, collection: sentinel-2-l2a}
        grid: {crs: EPSG:32632, resolution: 10, bbox: [600000, 5000000, 600700, 5000500], bbox_crs: grid, chunk: 16}
        time: {start: 2024-01-01, end: 2024-01-31}
        bands: [red, nir]
        land_mask: none
        pyramid: true
        store: \(root)
        """
        let spec = try CubeSpec.parse(yaml: yaml)
        let plan = try Plan.make(spec)
        let store = LocalStore(root: root, durable: false)
        _ = try CubeSchema.initialize(spec: spec, plan: plan, store: store)
        return Cube(root: root, store: store, layout: CubeLayout(spec: spec, plan: plan), plan: plan)
    }

    /// Deterministic base values with holes (0 = no data), and a corner that is empty throughout.
    func baseImage(_ w: Int, _ h: Int, seed: UInt64, array: String) -> [UInt16] {
        var state = seed
        var out = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let r = Int(state >> 33)
                if x < 32 && y < 32 { continue }            // an empty 2x2 block of base chunks
                if array == "count" { out[y * w + x] = r % 5 == 0 ? 65000 : UInt16(r % 7) } else if r % 4 != 0 {
                    out[y * w + x] = UInt16(1 + r % 9000)
                }
            }
        }
        return out
    }

    /// The rule, one level up.
    func downsample(_ img: [UInt16], _ w: Int, _ h: Int, count: Bool) -> ([UInt16], Int, Int) {
        let (nw, nh) = ((w + 1) / 2, (h + 1) / 2)
        var out = [UInt16](repeating: 0, count: nw * nh)
        for y in 0..<nh {
            for x in 0..<nw {
                var sum = 0, n = 0
                for dy in 0..<2 { for dx in 0..<2 {
                    let (sy, sx) = (2 * y + dy, 2 * x + dx)
                    guard sy < h, sx < w else { continue }
                    let v = Int(img[sy * w + sx])
                    if count { sum += v } else if v != 0 { sum += v; n += 1 }
                } }
                out[y * nw + x] = count ? UInt16(min(sum, 65535)) : (n == 0 ? 0 : UInt16((sum + n / 2) / n))
            }
        }
        return (out, nw, nh)
    }

    func writeBase(_ c: Cube, arrays: [String]) throws -> [String: [UInt16]] {
        let base = c.layout.levels[0]
        var images: [String: [UInt16]] = [:]
        let writer = ChunkWriter(layout: c.layout, store: c.store)
        for (i, a) in arrays.enumerated() {
            let img = baseImage(base.width, base.height, seed: UInt64(i + 1), array: a)
            images[a] = img
            for cy in 0..<base.chunkRows {
                for cx in 0..<base.chunkCols {
                    let win = base.chunkWindow(cy: cy, cx: cx)
                    var plane: [UInt16] = []
                    for r in 0..<win.height { plane += img[((win.row + r) * base.width + win.col)..<((win.row + r) * base.width + win.col + win.width)] }
                    guard plane.contains(where: { $0 != 0 }) else { continue }
                    _ = try plane.withUnsafeBufferPointer { try writer.write(array: a, bin: 0, cy: cy, cx: cx, plane: $0) }
                }
            }
        }
        return images
    }

    @Test func everyLevelFollowsTheRule() throws {
        let c = try cube()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        let arrays = c.layout.dataArrays
        #expect(arrays == ["red", "nir", "count"])
        #expect(c.layout.levels.count == 4, "70 x 50 in chunks of 16: levels of 70, 35, 18, 9 pixels wide")
        var images = try writeBase(c, arrays: arrays)
        let report = try PyramidBuilder(layout: c.layout, store: c.store).build(bins: [0], threads: 2)
        #expect(report.failed.isEmpty && report.built > 0 && report.empty > 0)
        let writer = ChunkWriter(layout: c.layout, store: c.store)
        var (w, h) = (c.layout.levels[0].width, c.layout.levels[0].height)
        for level in c.layout.levels.dropFirst() {
            var next: [String: [UInt16]] = [:]
            var (nw, nh) = (0, 0)
            for a in arrays { (next[a], nw, nh) = downsample(images[a]!, w, h, count: a == "count") }
            #expect(nw == level.width && nh == level.height)
            for cy in 0..<level.chunkRows {
                for cx in 0..<level.chunkCols {
                    let win = level.chunkWindow(cy: cy, cx: cx)
                    for a in arrays {
                        var want: [UInt16] = []
                        for r in 0..<win.height { want += next[a]![((win.row + r) * nw + win.col)..<((win.row + r) * nw + win.col + win.width)] }
                        let got = try writer.read(array: a, level: level.level, bin: 0, cy: cy, cx: cx)
                        if want.allSatisfy({ $0 == 0 }) && got == nil { continue }   // an all-empty array chunk may be absent
                        #expect(got == want, "level \(level.level) chunk (\(cy), \(cx)) \(a)")
                    }
                }
            }
            images = next
            (w, h) = (nw, nh)
        }
        // The empty corner: level 1's chunk (0, 0) has no valid pixel in any array, so it is absent.
        #expect(try writer.read(array: "red", level: 1, bin: 0, cy: 0, cx: 0) == nil)
        #expect(try !c.store.exists(c.layout.chunkKey(array: "count", level: 1, bin: 0, cy: 0, cx: 0)))
    }

    @Test func aRerunSkipsMarkedChunksAndInvalidationRebuildsThem() throws {
        let c = try cube()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        _ = try writeBase(c, arrays: c.layout.dataArrays)
        let builder = PyramidBuilder(layout: c.layout, store: c.store)
        let first = try builder.build(bins: [0], threads: 2)
        let total = c.layout.levels.dropFirst().reduce(0) { $0 + $1.chunkRows * $1.chunkCols }
        #expect(first.built + first.empty == total && first.alreadyDone == 0)
        let again = try builder.build(bins: [0], threads: 2)
        #expect(again.built == 0 && again.empty == 0 && again.alreadyDone == total)
        // Base chunk (3, 4) changes: the chunks above it (one per level) are built again.
        let key = try c.layout.chunkKey(array: "red", level: 1, bin: 0, cy: 1, cx: 2)
        let before = try c.store.get(key)
        let writer = ChunkWriter(layout: c.layout, store: c.store)
        let win = c.layout.levels[0].chunkWindow(cy: 3, cx: 4)
        let plane = [UInt16](repeating: 4321, count: win.pixelCount)
        _ = try plane.withUnsafeBufferPointer { try writer.write(array: "red", bin: 0, cy: 3, cx: 4, plane: $0) }
        try builder.invalidate(bin: 0, cy: 3, cx: 4)
        let third = try builder.build(bins: [0], threads: 2)
        #expect(third.built + third.empty == c.layout.levels.count - 1 && third.alreadyDone == total - (c.layout.levels.count - 1))
        #expect(try c.store.get(key) != before)
        let top = try #require(try writer.read(array: "red", level: 1, bin: 0, cy: 1, cx: 2))
        // Base chunk (3, 4) is base rows 48..49, cols 64..69: level-1 rows 24, cols 32..34.
        let lw = c.layout.levels[1].chunkWindow(cy: 1, cx: 2)
        #expect(top[(24 - lw.row) * lw.width + (32 - lw.col)] == 4321)
    }
}
