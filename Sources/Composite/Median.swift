/// The median of the valid values: the middle one, or for an even count the mean of the two
/// middle values rounded half up, (a + b + 1) / 2 in 32 bits. Equal to `p50` bit for bit.
public struct Median: OrderStatistic {
    public init() {}
    public var name: String { "median" }
    public var needsLowerHalf: Bool { false }
    public var needsSort: Bool { true }
    public var longName: String { "median" }
    public var rule: String {
        "median of the valid observations; an even count gives (a + b + 1) // 2 of the two middle values; 0 = none"
    }

    @inline(__always)
    public func extract(_ block: SortedBlock, into out: UnsafeMutablePointer<UInt16>) {
        for l in 0..<block.width {
            let c = Int(block.counts[l])
            if c == 0 {
                out[l] = 0
                continue
            }
            let a = UInt32(block.value((c &- 1) / 2, lane: l)), b = UInt32(block.value(c / 2, lane: l))
            out[l] = UInt16(truncatingIfNeeded: (a &+ b &+ 1) >> 1)
        }
    }
}
