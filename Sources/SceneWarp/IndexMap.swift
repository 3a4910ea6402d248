import CubeGrid

/// For each target pixel, which sample of the source window to take: the source pixel that
/// contains the target pixel's centre, `col = floor((X - a) / b)`, `row = floor((Y - d) / f)`,
/// as an index into the row-major window buffer, or -1 when the centre is outside the raster.
final class IndexMap {
    /// Bounding window of all source pixels used; nil when no target pixel is covered.
    let window: PixelWindow?
    let indices: [Int32]
    let coveredCount: Int
    /// The map grouped by source block, built on the first tile-by-tile read.
    var groups: BlockGroups?

    var byteCount: Int { indices.count * MemoryLayout<Int32>.stride + (groups?.byteCount ?? 0) }

    /// `grid.width * grid.height` must fit in Int32 (checked when the scene is opened).
    init(centres: SourceCentres, grid: SourceGrid) {
        let n = centres.xs.count
        let a = grid.originX, b = grid.pixelWidth, d = grid.originY, f = grid.pixelHeight
        let sw = Double(grid.width), sh = Double(grid.height)
        var minCol = Int32.max, maxCol = Int32.min, minRow = Int32.max, maxRow = Int32.min
        var covered = 0
        // Pass 1: absolute column into `indices`, row into `rows`, and the bounding window.
        var rows = [Int32](repeating: -1, count: n)
        var indices = [Int32](repeating: -1, count: n)
        centres.xs.withUnsafeBufferPointer { xs in
            centres.ys.withUnsafeBufferPointer { ys in
                rows.withUnsafeMutableBufferPointer { rowOut in
                    indices.withUnsafeMutableBufferPointer { colOut in
                        for i in 0..<n {
                            // Division, not multiplication by a reciprocal: the reference formula
                            // bit for bit. NaN and infinity fail the range tests.
                            let c = ((xs[i] - a) / b).rounded(.down)
                            let r = ((ys[i] - d) / f).rounded(.down)
                            guard c >= 0, c < sw, r >= 0, r < sh else { continue }
                            let ci = Int32(c), ri = Int32(r)
                            colOut[i] = ci
                            rowOut[i] = ri
                            minCol = min(minCol, ci); maxCol = max(maxCol, ci)
                            minRow = min(minRow, ri); maxRow = max(maxRow, ri)
                            covered += 1
                        }
                    }
                }
            }
        }
        coveredCount = covered
        guard covered > 0 else {
            window = nil
            self.indices = indices
            return
        }
        let window = PixelWindow(col: Int(minCol), row: Int(minRow),
                                 width: Int(maxCol - minCol) + 1, height: Int(maxRow - minRow) + 1)
        // Pass 2: make the indices relative to the window buffer.
        let ww = Int32(window.width)
        rows.withUnsafeBufferPointer { rowIn in
            indices.withUnsafeMutableBufferPointer { idx in
                for i in 0..<n where idx[i] >= 0 {
                    idx[i] = (rowIn[i] - minRow) * ww + (idx[i] - minCol)
                }
            }
        }
        self.window = window
        self.indices = indices
    }
}
