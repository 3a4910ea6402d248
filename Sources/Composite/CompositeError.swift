/// Errors from the mask and reduce stages. Every case says which input was wrong, so the
/// chunk worker can report it without guessing.
public enum CompositeError: Error, Equatable, CustomStringConvertible {
    /// A mask class outside 0...255 was given to `MaskRule`.
    case maskClassOutOfRange(Int)
    /// A mask bit outside 0...15 was given to `MaskRule`.
    case maskBitOutOfRange(Int)
    /// A plane does not have the window's pixel count (`what` names the plane).
    case planeSizeMismatch(what: String, expected: Int, actual: Int)
    /// The number of band planes or shifts does not match the band count.
    case bandCountMismatch(what: String, expected: Int, actual: Int)
    /// A DN shift outside -65535...65535 (it could not be a real offset).
    case shiftOutOfRange(band: Int, shift: Int)
    /// The raster:bands offset/scale pair does not describe an integer DN shift.
    case invalidOffsetScale(offset: Double, scale: Double)
    /// A window, band count or observation count that is zero/negative or too large.
    case invalidDimensions(String)
    /// More observations than the reducer was sized for.
    case capacityExceeded(capacity: Int)
    /// No observation is open: commit without begin, a scene added to an already committed
    /// reducer builder, or the reducer's own slot builder passed to `add(_:)`.
    case noOpenObservation

    public var description: String {
        switch self {
        case .maskClassOutOfRange(let c):
            return "mask class \(c) is outside 0...255"
        case .maskBitOutOfRange(let b):
            return "mask bit \(b) is outside 0...15"
        case .planeSizeMismatch(let what, let expected, let actual):
            return "\(what) has \(actual) pixels, expected \(expected)"
        case .bandCountMismatch(let what, let expected, let actual):
            return "\(what) has \(actual) entries, expected one per band (\(expected))"
        case .shiftOutOfRange(let band, let shift):
            return "DN shift \(shift) for band \(band) is outside -65535...65535"
        case .invalidOffsetScale(let offset, let scale):
            return "raster:bands scale \(scale) and offset \(offset) are not an exact conversion to reflectance × 10000"
        case .invalidDimensions(let s):
            return "invalid composite dimensions: \(s)"
        case .capacityExceeded(let capacity):
            return "more than \(capacity) observations added to a reducer sized for \(capacity)"
        case .noOpenObservation:
            return "no open observation: call beginObservation() first"
        }
    }
}
