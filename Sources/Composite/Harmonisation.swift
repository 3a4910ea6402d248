/// Radiometric harmonisation: an integer DN shift per scene and band that brings processing
/// baseline ≥ 04.00 data (which carries a -1000 DN offset) onto the old baseline's scale, so
/// a time series mixes both without a jump.
public enum Harmonisation {
    /// ESA's BOA_ADD_OFFSET for baseline ≥ 04.00, in DN.
    public static let baselineOffsetDN: Int32 = -1000

    /// The DN shift for one band of one scene.
    ///
    /// - `boaOffsetApplied == true` (earthsearch:boa_offset_applied): the provider already
    ///   removed the offset → 0.
    /// - `offset` and `scale` from raster:bands: shift = offset / scale (e.g. -0.1 / 0.0001 =
    ///   -1000); it must be an integer number of DN.
    /// - no offset/scale: baseline ≥ 04.00 → -1000, older baseline → 0, unknown → 0.
    public static func shift(
        offset: Double?, scale: Double?, boaOffsetApplied: Bool?, processingBaseline: String?
    ) throws -> Int32 {
        if boaOffsetApplied == true { return 0 }
        if let offset, let scale {
            return try shiftFromOffset(offset, scale: scale)
        }
        if let processingBaseline {
            let baseline = try ProcessingBaseline(parsing: processingBaseline)
            return baseline >= .boaOffsetIntroduced ? baselineOffsetDN : 0
        }
        return 0
    }

    /// offset / scale as an integer DN shift; rejects non-finite, non-positive scale and
    /// non-integer ratios (a wrong scale would silently corrupt every value).
    static func shiftFromOffset(_ offset: Double, scale: Double) throws -> Int32 {
        guard offset.isFinite, scale.isFinite, scale > 0 else {
            throw CompositeError.invalidOffsetScale(offset: offset, scale: scale)
        }
        let dn = offset / scale
        guard abs(dn) <= 65535.5 else { throw CompositeError.invalidOffsetScale(offset: offset, scale: scale) }
        // Round to nearest by truncating conversion (keeps the module free of a libm dependency).
        let nearest = dn < 0 ? -Int32(-dn + 0.5) : Int32(dn + 0.5)
        guard abs(dn - Double(nearest)) <= 1e-6 * max(1, abs(dn)), abs(nearest) <= 65535 else {
            throw CompositeError.invalidOffsetScale(offset: offset, scale: scale)
        }
        return nearest
    }

    /// value + shift for a valid pixel, clamped to 1...65535 so a valid pixel never turns into
    /// the nodata value 0; nodata (0) stays 0.
    @inlinable
    public static func apply(_ value: UInt16, shift: Int32) -> UInt16 {
        if value == 0 { return 0 }
        return shifted(value, shift)
    }

    /// The clamp for a value known to be nonzero (fusion's inner loop).
    @inlinable @inline(__always)
    static func shifted(_ value: UInt16, _ shift: Int32) -> UInt16 {
        let x = Int32(value) &+ shift
        return UInt16(truncatingIfNeeded: min(max(x, 1), 65535))
    }

    /// Checks that a shift fits the DN range (used when shifts come from callers).
    static func validate(_ shifts: [Int32], bandCount: Int) throws {
        guard shifts.count == bandCount else {
            throw CompositeError.bandCountMismatch(what: "shifts", expected: bandCount, actual: shifts.count)
        }
        for (b, s) in shifts.enumerated() where s < -65535 || s > 65535 {
            throw CompositeError.shiftOutOfRange(band: b, shift: Int(s))
        }
    }
}
