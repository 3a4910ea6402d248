import CubeGrid
import GDALKit

/// For each target pixel, which sample of the source window to take: the source pixel that
/// contains the target pixel's centre, `col = floor((X - a) / b)`, `row = floor((Y - d) / f)`,
/// as an index into the row-major window buffer, or -1 when the centre is outside the raster.
final class IndexMap {
    /// Bounding window of all source pixels used; nil when no target pixel is covered.
    let window: PixelWindow?
    let indices: [Int32]
    let coveredCount: Int
    /// Interpolated centres recomputed exactly because they lie near a pixel edge.
    let refinedCount: Int

    var byteCount: Int { indices.count * MemoryLayout<Int32>.stride }

    /// `grid.width * grid.height` must fit in Int32 (checked when the scene is opened).
    /// `transform` is the one the centres were made with: interpolated centres near a pixel
    /// edge are recomputed with it, exactly.
    init(centres: SourceCentres, grid: SourceGrid, transform: CoordinateTransform?, refine: Bool = true) {
        let n = centres.xs.count
        let a = grid.originX, b = grid.pixelWidth, d = grid.originY, f = grid.pixelHeight
        let sw = Double(grid.width), sh = Double(grid.height)
        // Centres whose pick interpolation could have moved: closer to a column or row edge
        // than the interpolation error bound. Ascending, so pass 1 walks them in step.
        var fix: [Int] = []
        if refine && centres.tolerance > 0 {
            let tc = centres.tolerance / abs(b), tr = centres.tolerance / abs(f)
            centres.xs.withUnsafeBufferPointer { xs in
                centres.ys.withUnsafeBufferPointer { ys in
                    for i in 0..<n {
                        let c = (xs[i] - a) / b, r = (ys[i] - d) / f
                        if abs(c - c.rounded()) <= tc || abs(r - r.rounded()) <= tr { fix.append(i) }
                    }
                }
            }
        }
        let exact = centres.exact(fix, using: transform)
        refinedCount = fix.count
        var minCol = Int32.max, maxCol = Int32.min, minRow = Int32.max, maxRow = Int32.min
        var covered = 0
        // Pass 1: absolute column into `indices`, row into `rows`, and the bounding window.
        var rows = [Int32](repeating: -1, count: n)
        var indices = [Int32](repeating: -1, count: n)
        centres.xs.withUnsafeBufferPointer { xs in
            centres.ys.withUnsafeBufferPointer { ys in
                rows.withUnsafeMutableBufferPointer { rowOut in
                    indices.withUnsafeMutableBufferPointer { colOut in
                        var next = 0
                        for i in 0..<n {
                            var x = xs[i], y = ys[i]
                            if next < fix.count && fix[next] == i {
                                (x, y) = (exact.xs[next], exact.ys[next])
                                next += 1
                            }
                            // Division, not multiplication by a reciprocal: the reference formula
                            // bit for bit. NaN and infinity fail the range tests.
                            let c = ((x - a) / b).rounded(.down)
                            let r = ((y - d) / f).rounded(.down)
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
