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
        let ww = window.width, wh = window.height
        // Per window column and row: block index and offset inside the block, so the loop
        // below needs one integer division per pixel (window index to row), not eight.
        let colBlock = (0..<ww).map { Int32((window.col + $0) / blockWidth - bx0) }
        let colOffset = (0..<ww).map { Int32((window.col + $0) % blockWidth) }
        let rowBlock = (0..<wh).map { Int32((window.row + $0) / blockHeight - by0) }
        let rowOffset = (0..<wh).map { Int32((window.row + $0) % blockHeight) }
        let groupCount = nbx * nby
        var starts = [Int32](repeating: 0, count: groupCount + 1)
        var targets = [Int32](repeating: 0, count: map.coveredCount)
        var offsets = [Int32](repeating: 0, count: map.coveredCount)
        var firstRows = [Int32](repeating: Int32.max, count: groupCount)
        var rowEnds = [Int32](repeating: 0, count: groupCount)
        var colEnds = [Int32](repeating: 0, count: groupCount)
        // Pass 1: each covered pixel's group (kept per pixel) and its offset; group sizes.
        var groupOf = [Int32](repeating: -1, count: map.indices.count)
        var offsetOf = [Int32](repeating: 0, count: map.indices.count)
        let inverseWidth = 1 / Double(ww)
        let counts = UnsafeMutableBufferPointer<Int32>.allocate(capacity: groupCount + 1)
        let bounds = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 3 * groupCount)  // first row, row end, column end
        counts.initialize(repeating: 0)
        for g in 0..<groupCount { (bounds[3 * g], bounds[3 * g + 1], bounds[3 * g + 2]) = (Int32.max, 0, 0) }
        defer { counts.deallocate(); bounds.deallocate() }
        map.indices.withUnsafeBufferPointer { idx in
            groupOf.withUnsafeMutableBufferPointer { groupOf in
                offsetOf.withUnsafeMutableBufferPointer { offsetOf in
                    colBlock.withUnsafeBufferPointer { colBlock in
                        colOffset.withUnsafeBufferPointer { colOffset in
                            rowBlock.withUnsafeBufferPointer { rowBlock in
                                rowOffset.withUnsafeBufferPointer { rowOffset in
                                    for p in 0..<idx.count where idx[p] >= 0 {
                                        let k = Int(idx[p])
                                        // k / ww by a reciprocal, corrected: no integer division.
                                        var row = Int(Double(k) * inverseWidth)
                                        if row * ww > k { row -= 1 } else if (row + 1) * ww <= k { row += 1 }
                                        let col = k - row * ww
                                        let g = Int(rowBlock[row]) * nbx + Int(colBlock[col])
                                        let inRow = rowOffset[row], inCol = colOffset[col]
                                        groupOf[p] = Int32(g)
                                        offsetOf[p] = inRow * Int32(blockWidth) + inCol
                                        counts[g + 1] += 1
                                        bounds[3 * g] = min(bounds[3 * g], inRow)
                                        bounds[3 * g + 1] = max(bounds[3 * g + 1], inRow + 1)
                                        bounds[3 * g + 2] = max(bounds[3 * g + 2], inCol + 1)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for g in 0..<groupCount {
            starts[g + 1] = starts[g] + counts[g + 1]
            (firstRows[g], rowEnds[g], colEnds[g]) = (bounds[3 * g], bounds[3 * g + 1], bounds[3 * g + 2])
        }
        // Pass 2: place (a stable counting sort, so target order is kept within a group).
        // `counts` now serves as each group's next free slot.
        for g in 0..<groupCount { counts[g] = starts[g] }
        groupOf.withUnsafeBufferPointer { groupOf in
            offsetOf.withUnsafeBufferPointer { offsetOf in
                targets.withUnsafeMutableBufferPointer { targets in
                    offsets.withUnsafeMutableBufferPointer { offsets in
                        for p in 0..<groupOf.count where groupOf[p] >= 0 {
                            let g = Int(groupOf[p])
                            let slot = Int(counts[g])
                            counts[g] += 1
                            targets[slot] = Int32(p)
                            offsets[slot] = offsetOf[p]
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
