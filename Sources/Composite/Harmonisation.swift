/// Sentinel-2 radiometric harmonisation: processing baseline ≥ 04.00 carries a −1000 DN offset
/// (`raster:bands` offset −0.1 at scale 0.0001), removed as the integer shift
/// `round(offset / scale)` unless the provider already did (`earthsearch:boa_offset_applied`).
/// The shift is read from each asset by the item parser (`StacAsset.harmonisationShiftDN`) and
/// applied as `ValueMap.shift` (clamped to 1...65535 for a valid pixel, 0 stays 0).
public enum Harmonisation {
    /// Checks caller-given shifts (`ObservationBuilder.addScene(bands:mask:shifts:)`).
    static func validate(_ shifts: [Int32], bandCount: Int) throws {
        guard shifts.count == bandCount else {
            throw CompositeError.bandCountMismatch(what: "shifts", expected: bandCount, actual: shifts.count)
        }
        for (b, s) in shifts.enumerated() where s < -65535 || s > 65535 {
            throw CompositeError.shiftOutOfRange(band: b, shift: Int(s))
        }
    }
}
