import CubeGrid

/// The target pixels of an index map grouped by the source block their source pixel lies in,
/// with that pixel's offset inside the block: a decoded tile is gathered from directly, and a
/// block no needed pixel falls in is never fetched. Depends only on the source lattice and the
/// block size, so like the index map it is shared by every scene and band on that lattice.
final class BlockGroups {
    let blockWidth: Int
    let blockHeight: Int
    /// Block coordinates of the first block of the window, and the window's extent in blocks.
    let firstCol: Int
    let firstRow: Int
    let across: Int
    let down: Int
    /// Group `g` (block `firstCol + g % across`, `firstRow + g / across`) is
    /// `targets[starts[g]..<starts[g+1]]`, in target order, with `offsets` alongside.
    let starts: [Int32]
    let targets: [Int32]
    let offsets: [Int32]
    /// Per group, the rows and columns of the block its pixels lie in: `firstRows[g]..<rowEnds[g]`,
    /// columns `..<colEnds[g]`. Decoding can stop after `rowEnds[g]` rows, and the predictor
    /// (a running sum from column 0) after `colEnds[g]` columns.
    let firstRows: [Int32]
    let rowEnds: [Int32]
    let colEnds: [Int32]

    var byteCount: Int {
        (starts.count + targets.count + offsets.count + 3 * firstRows.count) * MemoryLayout<Int32>.stride
    }
    var groupCount: Int { across * down }

    init(map: IndexMap, blockWidth: Int, blockHeight: Int) {
        self.blockWidth = blockWidth
        self.blockHeight = blockHeight
        guard let window = map.window else {
            (firstCol, firstRow, across, down) = (0, 0, 0, 0)
            (starts, targets, offsets) = ([0], [], [])
            (firstRows, rowEnds, colEnds) = ([], [], [])
            return
        }
        let bx0 = window.col / blockWidth, by0 = window.row / blockHeight
        let nbx = (window.col + window.width - 1) / blockWidth - bx0 + 1
        let nby = (window.row + window.height - 1) / blockHeight - by0 + 1
        (firstCol, firstRow, across, down) = (bx0, by0, nbx, nby)
        let ww = window.width, wc = window.col, wr = window.row
        var starts = [Int32](repeating: 0, count: nbx * nby + 1)
        var targets = [Int32](repeating: 0, count: map.coveredCount)
        var offsets = [Int32](repeating: 0, count: map.coveredCount)
        var firstRows = [Int32](repeating: Int32.max, count: nbx * nby)
        var rowEnds = [Int32](repeating: 0, count: nbx * nby)
        var colEnds = [Int32](repeating: 0, count: nbx * nby)
        map.indices.withUnsafeBufferPointer { idx in
            starts.withUnsafeMutableBufferPointer { starts in
                // Counting sort by block: count, prefix sum, place (stable, so target order is kept).
                for k in idx where k >= 0 {
                    let x = wc + Int(k) % ww, y = wr + Int(k) / ww
                    starts[(y / blockHeight - by0) * nbx + (x / blockWidth - bx0) + 1] += 1
                }
                for g in 0..<(nbx * nby) { starts[g + 1] += starts[g] }
                var next = Array(starts.dropLast())
                targets.withUnsafeMutableBufferPointer { targets in
                    offsets.withUnsafeMutableBufferPointer { offsets in
                        for p in 0..<idx.count where idx[p] >= 0 {
                            let k = Int(idx[p])
                            let x = wc + k % ww, y = wr + k / ww
                            let g = (y / blockHeight - by0) * nbx + (x / blockWidth - bx0)
                            let slot = Int(next[g])
                            next[g] += 1
                            targets[slot] = Int32(p)
                            let row = Int32(y % blockHeight), col = Int32(x % blockWidth)
                            offsets[slot] = row * Int32(blockWidth) + col
                            firstRows[g] = min(firstRows[g], row)
                            rowEnds[g] = max(rowEnds[g], row + 1)
                            colEnds[g] = max(colEnds[g], col + 1)
                        }
                    }
                }
            }
        }
        self.starts = starts
        self.targets = targets
        self.offsets = offsets
        self.firstRows = firstRows
        self.rowEnds = rowEnds
        self.colEnds = colEnds
    }
}
