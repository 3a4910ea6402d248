/// A sorting network for a fixed number of observations N, as compare-exchange pairs (i, j),
/// i < j: after running them, slot i ≤ slot j holds. Applied lane-wise to SIMD vectors it
/// sorts 8 pixels at once without branches (invalid observations are 0 and sink to the bottom).
///
/// Batcher's merge exchange (Knuth, TAOCP 5.2.2, Algorithm M) works for any N with about
/// N·log²N/4 comparators (138 for N = 25). When only the median is read, only the upper
/// positions matter (the median of c valid values sits at N - c + (c-1)/2 ≥ (N-1)/2), so
/// comparators that cannot influence those positions are pruned; a low percentile or the
/// minimum needs the full sort.
struct SortingNetwork {
    let size: Int
    /// Flattened pairs: pairs[2k] < pairs[2k+1].
    let pairs: [Int32]

    init(size: Int, fullSort: Bool = false) {
        self.size = size
        let all = Self.mergeExchange(size)
        pairs = Self.prune(all, keepingFrom: fullSort ? 0 : max(0, (size - 1) / 2), size: size)
    }

    var comparatorCount: Int { pairs.count / 2 }

    static func mergeExchange(_ n: Int) -> [(Int, Int)] {
        guard n >= 2 else { return [] }
        var t = 0
        while (1 << t) < n { t += 1 }
        var result: [(Int, Int)] = []
        var p = 1 << (t - 1)
        while p > 0 {
            var q = 1 << (t - 1)
            var r = 0
            var d = p
            while d > 0 {
                for i in 0..<(n - d) where (i & p) == r {
                    result.append((i, i + d))
                }
                d = q - p
                q >>= 1
                r = p
            }
            p >>= 1
        }
        return result
    }

    /// Walks the network backwards keeping a comparator only if one of its outputs is still
    /// needed; a kept comparator needs both its inputs.
    static func prune(_ comparators: [(Int, Int)], keepingFrom first: Int, size: Int) -> [Int32] {
        var needed = [Bool](repeating: false, count: size)
        for i in first..<size { needed[i] = true }
        var kept: [(Int, Int)] = []
        for (i, j) in comparators.reversed() where needed[i] || needed[j] {
            kept.append((i, j))
            needed[i] = true
            needed[j] = true
        }
        return kept.reversed().flatMap { [Int32($0.0), Int32($0.1)] }
    }
}
