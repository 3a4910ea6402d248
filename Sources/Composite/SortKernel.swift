/// Eight pixels of one band: the unit the sorting network works on (SSE2 has unsigned 16-bit
/// min/max via saturating subtraction, which LLVM emits for the compare-and-select below).
typealias Lane8 = SIMD8<UInt16>

/// Sorts the stored observations of one band, 8 pixels at a time, and hands each sorted block
/// to the order statistics (median, percentiles, ...), so several statistics share one sort.
///
/// Storage layout (see `CompositeReducer`): observation o, band b, pixel p lives at
/// `values[o * slotStride + b * pixelCount + p]`; invalid observations hold 0, valid ones ≥ 1.
/// For a block of 8 pixels, observations that are invalid for all 8 are dropped (clouds and
/// swath edges are spatially coherent, so this often leaves far fewer than N), the rest is
/// padded with zeros to a size bucket and sorted by that size's network. With c = counts[p]
/// valid values among the n sorted slots, the valid values sit at n-c ..< n (`SortedBlock`).
struct SortKernel {
    let observations: Int
    let slotStride: Int
    /// False when no statistic needs the values in order (the mean alone).
    let sorts: Bool

    /// Sorted-slot count for k kept observations: exact up to 16, then rounded up to a
    /// multiple of 8, so at most 16 + N/8 distinct networks are ever built.
    @inline(__always)
    static func bucket(_ k: Int, limit: Int) -> Int {
        k <= 16 ? k : min((k &+ 7) & ~7, limit)
    }

    /// Runs every statistic over the pixels in `range`: `extractors[s]` writes statistic s's
    /// plane for this band. `values` points at band b of observation 0; `scratch` holds at
    /// least `observations` Lane8 values; `networks` caches networks by size.
    func run(
        values: UnsafePointer<UInt16>, counts: UnsafePointer<UInt16>,
        extractors: [(statistic: any OrderStatistic, out: UnsafeMutablePointer<UInt16>)],
        range: Range<Int>, scratch: UnsafeMutablePointer<Lane8>, networks: NetworkCache
    ) {
        let lanes = Lane8.scalarCount
        let sorted = UnsafePointer(UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: UInt16.self))
        var p = range.lowerBound
        while p < range.upperBound {
            let width = min(lanes, range.upperBound &- p)
            let kept = load(values: values, pixel: p, width: width, into: scratch)
            let n = Self.bucket(kept, limit: observations)
            for k in kept..<n { scratch[k] = Lane8(repeating: 0) }
            if sorts { Self.sort(scratch, pairs: networks.pairs(size: n)) }
            let block = SortedBlock(slots: sorted, n: n, counts: counts + p, width: width)
            for (statistic, out) in extractors { statistic.extract(block, into: out + p) }
            p &+= width
        }
    }

    /// Loads the observations of 8 pixels, keeping only those with a valid lane.
    /// - Returns: how many were kept (scratch[0..<kept]).
    @inline(__always)
    private func load(values: UnsafePointer<UInt16>, pixel: Int, width: Int, into scratch: UnsafeMutablePointer<Lane8>) -> Int {
        let raw = UnsafeRawPointer(values)
        let zero = Lane8(repeating: 0)
        var kept = 0
        for o in 0..<observations {
            var v: Lane8
            if width == Lane8.scalarCount {
                v = raw.loadUnaligned(fromByteOffset: (o &* slotStride &+ pixel) &* 2, as: Lane8.self)
            } else {
                // Window tail: missing lanes are 0 (invalid) and their results are not written.
                v = zero
                for l in 0..<width { v[l] = values[o &* slotStride &+ pixel &+ l] }
            }
            scratch[kept] = v
            kept &+= any(v .!= zero) ? 1 : 0
        }
        return kept
    }

    @inline(__always)
    private static func sort(_ s: UnsafeMutablePointer<Lane8>, pairs: UnsafeBufferPointer<Int32>) {
        var k = 0
        let count = pairs.count
        guard let pp = pairs.baseAddress else { return }
        while k < count {
            let i = Int(pp[k]), j = Int(pp[k &+ 1])
            let a = s[i], b = s[j]
            // Spelled as compare + select: pointwiseMin/Max are not inlined into vector code.
            let swap = a .> b
            s[i] = a.replacing(with: b, where: swap)
            s[j] = b.replacing(with: a, where: swap)
            k &+= 2
        }
    }
}

/// Networks built on first use, one cache per worker thread (no locking). Pairs live in
/// owned buffers so the per-block lookup costs no reference counting or exclusivity checks.
final class NetworkCache {
    @exclusivity(unchecked) private var bySize: UnsafeMutablePointer<UnsafeBufferPointer<Int32>?>
    private let slots: Int

    /// `fullSort`: every position sorted; else only the upper half the median reads.
    private let fullSort: Bool

    init(maxSize: Int, fullSort: Bool = false) {
        self.fullSort = fullSort
        slots = maxSize + 1
        bySize = .allocate(capacity: slots)
        bySize.initialize(repeating: nil, count: slots)
    }

    deinit {
        for i in 0..<slots { bySize[i]?.deallocate() }
        bySize.deallocate()
    }

    @inline(__always)
    func pairs(size: Int) -> UnsafeBufferPointer<Int32> {
        if let p = bySize[size] { return p }
        let pairs = SortingNetwork(size: size, fullSort: fullSort).pairs
        let buffer = UnsafeMutableBufferPointer<Int32>.allocate(capacity: pairs.count)
        _ = buffer.initialize(from: pairs)
        bySize[size] = UnsafeBufferPointer(buffer)
        return UnsafeBufferPointer(buffer)
    }
}
