import Composite
import CubeCore
import CubeSchema
import CubeStore
import Foundation
import Synchronization

/// Builds a cube's coarser levels from the level below, reading only Zarr (no scene again):
/// level L's chunk (cy, cx) comes from the up to 2x2 chunks (2cy..2cy+1, 2cx..2cx+1) of level
/// L-1, each of its pixels from the 2x2 pixels below it.
///
/// The rule, exact and cheap to check against a numpy reference:
/// - reflectance and other uint16 outputs (0 = no data): the mean of the valid cells, rounded
///   half up ((sum + n/2) / n), 0 when none is valid. A mean keeps the map's tone (a median
///   of four would do no better and needs a sort); nodata never darkens the average.
/// - float32 outputs (NaN = no data): the mean of the non-NaN cells, summed in double.
/// - counts: the sum (observations add up across the area), capped at 65535.
/// - int32 outputs (dates such as `medoid_time`, `OutputType.int32Fill` = no data): the value of
///   the first valid cell of the 2x2 in row-major order (a mean of dates is no one's date).
///
/// Each level chunk is a job of its own: all its arrays are written (all-no-data chunks are
/// left absent, as Zarr's fill value says), then a done marker; a rerun skips marked chunks, so
/// an interrupted build resumes and a failed chunk is retried.
public struct PyramidBuilder: Sendable {
    public let layout: CubeLayout
    public let store: any Store
    let writer: ChunkWriter

    public init(layout: CubeLayout, store: any Store) {
        self.layout = layout
        self.store = store
        writer = ChunkWriter(layout: layout, store: store)
    }

    public struct Report: Sendable, Equatable {
        public var built = 0
        public var alreadyDone = 0
        public var empty = 0
        public var failed: [String] = []
        /// Bins with a failed chunk: not complete, so not published as such.
        public var failedBins: Set<Int> = []
        public init() {}
    }

    /// Forgets the level chunks above base chunk (cy, cx) of `bin` (its scenes changed and it
    /// is being rebuilt), so the next build makes them again from the new base.
    public func invalidate(bin: Int, cy: Int, cx: Int) throws {
        for level in layout.levels.dropFirst() {
            let f = level.level
            try store.delete(Self.doneKey(level: f, bin: bin, cy: cy >> f, cx: cx >> f))
        }
    }

    public static func doneKey(level: Int, bin: Int, cy: Int, cx: Int) -> String {
        StoreKeys.pyramidDone(level: level, bin: bin, cy: cy, cx: cx)
    }

    /// Builds every level above the base for `bins`, level by level (a level needs the one
    /// below complete), the chunks of a level on `threads` threads.
    public func build(bins: [Int], threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                      attempts: Int = 3) throws -> Report {
        var report = Report()
        guard layout.hasPyramid else { return report }
        for level in layout.levels.dropFirst() {
            let done = Set(try store.list(prefix: StoreKeys.pyramidLevelPrefix(level.level)))
            var pending: [(bin: Int, cy: Int, cx: Int)] = []
            for bin in bins {
                for cy in 0..<level.chunkRows {
                    for cx in 0..<level.chunkCols {
                        if done.contains(Self.doneKey(level: level.level, bin: bin, cy: cy, cx: cx)) {
                            report.alreadyDone += 1
                        } else {
                            pending.append((bin, cy, cx))
                        }
                    }
                }
            }
            let tasks = pending
            let outcome = Mutex((built: 0, empty: 0, failed: [String](), bins: Set<Int>()))
            let next = Atomic<Int>(0)
            let run: @Sendable (Int) -> Void = { _ in
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < tasks.count else { return }
                    let t = tasks[i]
                    var attempt = 0
                    while true {
                        attempt += 1
                        do {
                            let wrote = try buildChunk(level: level.level, bin: t.bin, cy: t.cy, cx: t.cx)
                            outcome.withLock { wrote ? ($0.built += 1) : ($0.empty += 1) }
                            break
                        } catch {
                            if attempt >= attempts {
                                outcome.withLock {
                                    $0.failed.append("level \(level.level) bin \(t.bin) chunk (\(t.cy), \(t.cx)): \(error)")
                                    $0.bins.insert(t.bin)
                                }
                                break
                            }
                        }
                    }
                }
            }
            let lanes = max(1, min(threads, tasks.count))
            if lanes == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: lanes, execute: run) }
            let o = outcome.withLock { $0 }
            report.built += o.built
            report.empty += o.empty
            report.failed += o.failed
            report.failedBins.formUnion(o.bins)
            // A level with failed chunks cannot feed the next one.
            if !o.failed.isEmpty { break }
        }
        return report
    }

    /// Builds one chunk of `level` from the level below; returns whether it held any data.
    @discardableResult
    public func buildChunk(level: Int, bin: Int, cy: Int, cx: Int) throws -> Bool {
        precondition(level >= 1 && level < layout.levels.count)
        let target = layout.levels[level].chunkWindow(cy: cy, cx: cx)
        let below = layout.levels[level - 1]
        // The source region in level-below pixels, relative to its top-left.
        let srcRow0 = 2 * target.row, srcCol0 = 2 * target.col
        let srcH = min(2 * target.height, below.height - srcRow0)
        let srcW = min(2 * target.width, below.width - srcCol0)
        var any = false
        for name in layout.dataArrays {
            let isFloat = layout.dataType(of: name) == .float32
            let isInteger = layout.dataType(of: name) == .int32
            let isCount = name == CubeLayout.countArray || layout.sensorCounts.contains(name)
            // Gathers the up-to-four chunks below into one plane (no data where absent).
            func gather<T: ChunkScalar>(_ fill: T) throws -> (plane: [T], found: Bool) {
                var plane = [T](repeating: fill, count: srcW * srcH)
                var found = false
                for dy in 0..<2 {
                    for dx in 0..<2 {
                        let ccy = 2 * cy + dy, ccx = 2 * cx + dx
                        guard ccy < below.chunkRows, ccx < below.chunkCols else { continue }
                        guard let child = try writer.read(array: name, level: level - 1, bin: bin, cy: ccy, cx: ccx, as: T.self)
                        else { continue }
                        found = true
                        let w = below.chunkWindow(cy: ccy, cx: ccx)
                        let r0 = w.row - srcRow0, c0 = w.col - srcCol0
                        child.withUnsafeBufferPointer { src in
                            plane.withUnsafeMutableBufferPointer { dst in
                                for r in 0..<w.height {
                                    let d = dst.baseAddress! + (r0 + r) * srcW + c0
                                    d.update(from: src.baseAddress! + r * w.width, count: w.width)
                                }
                            }
                        }
                    }
                }
                return (plane, found)
            }
            let pixels = target.width * target.height
            if isInteger {
                let fill = OutputType.int32Fill
                let (src, found) = try gather(fill)
                guard found else { try removeChunk(name, level, bin, cy, cx); continue }
                var out = [Int32](repeating: fill, count: pixels)
                var valid = false
                for r in 0..<target.height {
                    for c in 0..<target.width {
                        search: for sr in (2 * r)..<min(2 * r + 2, srcH) {
                            for sc in (2 * c)..<min(2 * c + 2, srcW) where src[sr * srcW + sc] != fill {
                                out[r * target.width + c] = src[sr * srcW + sc]
                                valid = true
                                break search
                            }
                        }
                    }
                }
                guard valid else { try removeChunk(name, level, bin, cy, cx); continue }
                try out.withUnsafeBytes { _ = try writer.write(array: name, level: level, bin: bin, cy: cy, cx: cx, bytes: $0) }
                any = true
            } else if isFloat {
                let (src, found) = try gather(Float.nan)
                guard found else { try removeChunk(name, level, bin, cy, cx); continue }
                var out = [Float](repeating: .nan, count: pixels)
                var valid = false
                for r in 0..<target.height {
                    for c in 0..<target.width {
                        var sum = 0.0, n = 0
                        for sr in (2 * r)..<min(2 * r + 2, srcH) {
                            for sc in (2 * c)..<min(2 * c + 2, srcW) {
                                let v = src[sr * srcW + sc]
                                if !v.isNaN { sum += Double(v); n += 1 }
                            }
                        }
                        if n > 0 { out[r * target.width + c] = Float(sum / Double(n)); valid = true }
                    }
                }
                guard valid else { try removeChunk(name, level, bin, cy, cx); continue }
                try out.withUnsafeBytes { _ = try writer.write(array: name, level: level, bin: bin, cy: cy, cx: cx, bytes: $0) }
                any = true
            } else {
                let (src, found) = try gather(UInt16(0))
                guard found else { try removeChunk(name, level, bin, cy, cx); continue }
                var out = [UInt16](repeating: 0, count: pixels)
                var valid = false
                for r in 0..<target.height {
                    for c in 0..<target.width {
                        var sum: UInt32 = 0, n: UInt32 = 0
                        for sr in (2 * r)..<min(2 * r + 2, srcH) {
                            for sc in (2 * c)..<min(2 * c + 2, srcW) {
                                let v = UInt32(src[sr * srcW + sc])
                                sum += v
                                n += v == 0 ? 0 : 1
                            }
                        }
                        guard n > 0 else { continue }
                        out[r * target.width + c] = isCount ? UInt16(min(sum, 65535)) : UInt16((sum + n / 2) / n)
                        valid = true
                    }
                }
                guard valid else { try removeChunk(name, level, bin, cy, cx); continue }
                try out.withUnsafeBytes { _ = try writer.write(array: name, level: level, bin: bin, cy: cy, cx: cx, bytes: $0) }
                any = true
            }
        }
        try store.put(Self.doneKey(level: level, bin: bin, cy: cy, cx: cx), Data())
        return any
    }

    /// A level chunk with no data is absent; one an earlier build left (before its base
    /// changed) goes, so a rebuilt pyramid equals a fresh one.
    private func removeChunk(_ name: String, _ level: Int, _ bin: Int, _ cy: Int, _ cx: Int) throws {
        try store.delete(layout.chunkKey(array: name, level: level, bin: bin, cy: cy, cx: cx))
    }
}
