/// How a band's raw values (DN) become the cube's values, surface reflectance × 10000 as
/// uint16: `value = ⌊(multiplier·DN + addend) / divisor⌋`, clamped to 1...65535 for a valid
/// pixel (so it never turns into the nodata value 0); DN 0 (nodata) stays 0. Exact integer
/// arithmetic, so every sensor's conversion is reproducible bit for bit.
///
/// - Sentinel-2 (DN already reflectance × 10000): a shift, `DN + offset/scale` (−1000 for
///   processing baseline ≥ 04.00, see `Harmonisation`).
/// - Landsat Collection 2 (scale 0.0000275, offset −0.2):
///   round_half_up((DN × 0.0000275 − 0.2) × 10000) = ⌊(275·DN − 2,000,000 + 500) / 1000⌋.
public struct ValueMap: Sendable, Equatable, CustomStringConvertible {
    public let multiplier: Int32
    public let addend: Int32
    public let divisor: Int32

    /// DN as is.
    public static let identity = ValueMap(multiplier: 1, addend: 0, divisor: 1)

    /// DN + shift (Sentinel-2 harmonisation).
    public static func shift(_ dn: Int32) -> ValueMap { ValueMap(multiplier: 1, addend: dn, divisor: 1) }

    init(multiplier: Int32, addend: Int32, divisor: Int32) {
        self.multiplier = multiplier
        self.addend = addend
        self.divisor = divisor
    }

    /// round_half_up((DN × scale + offset) × 10000), for `raster:bands` scale and offset that
    /// are exact decimals with at most 6 digits after the ×10000 (0.0000275 → 0.275 = 275/1000).
    /// Throws for anything else (a wrong conversion would silently corrupt every value).
    public static func reflectance(scale: Double, offset: Double) throws -> ValueMap {
        guard scale.isFinite, offset.isFinite, scale > 0 else {
            throw CompositeError.invalidOffsetScale(offset: offset, scale: scale)
        }
        let s = scale * 10000, o = offset * 10000
        var divisor = 1.0
        while divisor <= 1_000_000 {
            let m = (s * divisor).rounded(), a = (o * divisor).rounded()
            if abs(s * divisor - m) <= 1e-6 * max(1, abs(m)), abs(o * divisor - a) <= 1e-6 * max(1, abs(a)) {
                // Largest numerator: m·65535 + |a| + divisor must fit Int32.
                guard m >= 1, m * 65535 + abs(a) + divisor < Double(Int32.max) else { break }
                // ⌊x + 1/2⌋ = ⌊(m·DN + a + divisor/2) / divisor⌋; an exact integer needs no rounding.
                let half = divisor >= 2 ? divisor / 2 : 0
                return ValueMap(multiplier: Int32(m), addend: Int32(a + half), divisor: Int32(divisor))
            }
            divisor *= 10
        }
        throw CompositeError.invalidOffsetScale(offset: offset, scale: scale)
    }

    /// The shift when this map is one (multiplier and divisor 1).
    public var shift: Int32? { multiplier == 1 && divisor == 1 ? addend : nil }

    /// The cube value of one DN.
    @inlinable
    public func apply(_ dn: UInt16) -> UInt16 {
        if dn == 0 { return 0 }
        let x = Int64(multiplier) * Int64(dn) + Int64(addend)
        // ⌊x / d⌋ ≤ 0 clamps to 1 anyway, so only non-negative x needs dividing.
        let q = x < Int64(divisor) ? 1 : x / Int64(divisor)
        return UInt16(min(q, 65535))
    }

    public var description: String {
        if let shift { return shift == 0 ? "DN" : "DN \(shift < 0 ? "-" : "+") \(abs(shift))" }
        return "floor((\(multiplier)·DN \(addend < 0 ? "-" : "+") \(abs(addend))) / \(divisor))"
    }
}
