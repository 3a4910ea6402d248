/// numpy's default ("linear") percentile, computed exactly and rounded half up. For the k
/// valid values sorted, h = (k−1)·q/100 and value = v[⌊h⌋] + (h−⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋]);
/// in integers, with i = (k−1)·q / 100 and f = (k−1)·q mod 100:
/// (100·v[i] + f·(v[i+1] − v[i]) + 50) / 100. So `p50` is the median, `p0` the minimum and
/// `p100` the maximum, bit for bit.
public struct Percentile: OrderStatistic {
    /// The percentile, 0...100.
    public let q: Int

    public init(_ q: Int) {
        precondition((0...100).contains(q), "percentile must be within 0...100")
        self.q = q
    }

    public var name: String { "p\(q)" }
    public var needsLowerHalf: Bool { q < 50 }
    public var needsSort: Bool { true }
    public var longName: String {
        let suffix: String
        switch (q % 100 / 10 == 1, q % 10) {
        case (false, 1): suffix = "st"
        case (false, 2): suffix = "nd"
        case (false, 3): suffix = "rd"
        default: suffix = "th"
        }
        return "\(q)\(suffix) percentile"
    }
    public var rule: String {
        "numpy percentile(method='linear') of the valid observations at q = \(q), computed exactly and rounded half up; 0 = none"
    }

    @inline(__always)
    public func extract(_ block: SortedBlock, into out: UnsafeMutablePointer<UInt16>) {
        for l in 0..<block.width {
            let c = Int(block.counts[l])
            if c == 0 {
                out[l] = 0
                continue
            }
            let h = (c &- 1) &* q
            let i = h / 100, f = h % 100
            let lo = UInt32(block.value(i, lane: l))
            if f == 0 {
                out[l] = UInt16(truncatingIfNeeded: lo)
                continue
            }
            // Sorted, so hi ≥ lo and every term is non-negative.
            let hi = UInt32(block.value(i &+ 1, lane: l))
            out[l] = UInt16(truncatingIfNeeded: (100 &* lo &+ UInt32(f) &* (hi &- lo) &+ 50) / 100)
        }
    }
}
