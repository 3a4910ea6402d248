/// The mean of the valid values rounded half up, in integers: (2·sum + k) / (2·k).
/// Invalid observations are 0, so the sum over every slot is the sum of the valid values and
/// no sort is needed.
public struct Mean: OrderStatistic {
    public init() {}
    public var name: String { "mean" }
    public var needsLowerHalf: Bool { true }
    public var needsSort: Bool { false }
    public var longName: String { "mean" }
    public var rule: String { "mean of the valid observations, rounded half up: (2*sum + k) // (2*k); 0 = none" }

    @inline(__always)
    public func extract(_ block: SortedBlock, into out: UnsafeMutablePointer<UInt16>) {
        var sums = SIMD8<UInt32>(repeating: 0)
        let raw = UnsafeRawPointer(block.slots)
        for k in 0..<block.n {
            // At most 65535 observations of ≤ 65535 each: fits 32 bits.
            sums &+= SIMD8<UInt32>(truncatingIfNeeded: raw.load(fromByteOffset: k &* 16, as: Lane8.self))
        }
        for l in 0..<block.width {
            let c = UInt64(block.counts[l])
            out[l] = c == 0 ? 0 : UInt16(truncatingIfNeeded: (2 &* UInt64(sums[l]) &+ c) / (2 &* c))
        }
    }
}
