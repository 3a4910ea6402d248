/// The smallest or largest valid value (`min`, `max`).
public struct Extreme: OrderStatistic {
    public let largest: Bool

    public static let min = Extreme(largest: false)
    public static let max = Extreme(largest: true)

    public var name: String { largest ? "max" : "min" }
    public var needsLowerHalf: Bool { !largest }
    public var needsSort: Bool { true }
    public var longName: String { largest ? "maximum" : "minimum" }
    public var rule: String { "\(longName) of the valid observations; 0 = none" }

    @inline(__always)
    public func extract(_ block: SortedBlock, into out: UnsafeMutablePointer<UInt16>) {
        for l in 0..<block.width {
            let c = Int(block.counts[l])
            out[l] = c == 0 ? 0 : block.value(largest ? c &- 1 : 0, lane: l)
        }
    }
}
