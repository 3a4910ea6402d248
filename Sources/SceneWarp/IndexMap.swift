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
        // Centres whose pick interpolation could have moved (closer to a column or row edge
        // than the interpolation error bound) are set aside in pass 1 and recomputed exactly.
        let tc = refine && centres.tolerance > 0 ? centres.tolerance / abs(b) : -1
        let tr = refine && centres.tolerance > 0 ? centres.tolerance / abs(f) : -1
        var fix: [Int] = []
        var minCol = Int32.max, maxCol = Int32.min, minRow = Int32.max, maxRow = Int32.min
        var covered = 0
        // Pass 1: absolute column into `indices`, row into `rows`, and the bounding window.
        var rows = [Int32](repeating: -1, count: n)
        var indices = [Int32](repeating: -1, count: n)
        @inline(__always) func place(_ i: Int, _ cr: Double, _ rr: Double,
                                     _ colOut: UnsafeMutableBufferPointer<Int32>, _ rowOut: UnsafeMutableBufferPointer<Int32>) {
            let c = cr.rounded(.down), r = rr.rounded(.down)
            // NaN and infinity fail the range tests.
            guard c >= 0, c < sw, r >= 0, r < sh else { return }
            let ci = Int32(c), ri = Int32(r)
            colOut[i] = ci
            rowOut[i] = ri
            minCol = min(minCol, ci); maxCol = max(maxCol, ci)
            minRow = min(minRow, ri); maxRow = max(maxRow, ri)
            covered += 1
        }
        centres.xs.withUnsafeBufferPointer { xs in
            centres.ys.withUnsafeBufferPointer { ys in
                rows.withUnsafeMutableBufferPointer { rowOut in
                    indices.withUnsafeMutableBufferPointer { colOut in
                        for i in 0..<n {
                            // Division, not multiplication by a reciprocal: the reference formula
                            // bit for bit.
                            let cr = (xs[i] - a) / b, rr = (ys[i] - d) / f
                            // Range tests on the quotients equal those on their floors (the
                            // bounds are integers); NaN and infinity fail them.
                            guard cr >= 0, cr < sw, rr >= 0, rr < sh else {
                                // Just outside the raster: interpolation may have moved it out.
                                if tc >= 0, cr >= -tc, cr <= sw + tc, rr >= -tr, rr <= sh + tr { fix.append(i) }
                                continue
                            }
                            // Truncation is the floor here (non-negative), without a libm call.
                            let ci = Int32(cr), ri = Int32(rr)
                            if tc >= 0 {
                                let fc = cr - Double(ci), fr = rr - Double(ri)  // exact
                                if fc <= tc || 1 - fc <= tc || fr <= tr || 1 - fr <= tr {
                                    fix.append(i)
                                    continue
                                }
                            }
                            colOut[i] = ci
                            rowOut[i] = ri
                            minCol = min(minCol, ci); maxCol = max(maxCol, ci)
                            minRow = min(minRow, ri); maxRow = max(maxRow, ri)
                            covered += 1
                        }
                        let exact = centres.exact(fix, using: transform)
                        for (j, i) in fix.enumerated() {
                            place(i, (exact.xs[j] - a) / b, (exact.ys[j] - d) / f, colOut, rowOut)
                        }
                    }
                }
            }
        }
        refinedCount = fix.count
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
