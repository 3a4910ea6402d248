/// What a scene's mask value says about a pixel, as a lookup table over every mask value
/// (0...65535) so the fusion loop pays one load per pixel whatever the sensor's mask is: a
/// class table (Sentinel-2 SCL) or bit fields (Landsat `qa_pixel`).
///
/// Each entry holds two flags: *invalid* (the pixel must be ignored: a cloud, a shadow, no
/// data) and *no data* (the scene has nothing there, e.g. outside its footprint). Under
/// first-data fusion a pixel the scene has data at (not no data) settles the solar day even
/// when it is invalid (a cloud hides it in every tile of the pass).
public struct MaskRule: Sendable, Equatable {
    /// SCL classes dropped by default: 0 no data, 1 saturated/defective, 3 cloud shadow,
    /// 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus.
    public static let defaultInvalidClasses: [UInt8] = [0, 1, 3, 8, 9, 10]

    /// The default Sentinel-2 rule (`defaultInvalidClasses`).
    public static let sentinel2Default = MaskRule(validatedClasses: defaultInvalidClasses)

    static let invalidFlag: UInt8 = 1
    static let noDataFlag: UInt8 = 2

    /// Per mask value: bit 0 invalid, bit 1 no data; always 65536 entries.
    @usableFromInline let table: [UInt8]
    /// What the rule was made from, for metadata and logs ("classes 0,1,3", "bits 0,1,3").
    public let summary: String

    /// A class rule (Sentinel-2 SCL): the listed classes are invalid; class 0 is no data;
    /// values above 255 are not classes and count as invalid no data. Each class must be in 0...255.
    public init<S: Sequence>(invalidClasses: S) throws where S.Element: BinaryInteger {
        var classes: [UInt8] = []
        for c in invalidClasses {
            guard let v = UInt8(exactly: c) else { throw CompositeError.maskClassOutOfRange(Int(c)) }
            classes.append(v)
        }
        self.init(validatedClasses: classes)
    }

    private init(validatedClasses: [UInt8]) {
        var t = [UInt8](repeating: Self.invalidFlag | Self.noDataFlag, count: 65536)
        for v in 0...255 { t[v] = 0 }
        for c in validatedClasses { t[Int(c)] |= Self.invalidFlag }
        t[0] |= Self.noDataFlag
        table = t
        summary = "classes " + Set(validatedClasses).sorted().map(String.init).joined(separator: ",")
    }

    /// A bit-field rule (Landsat `qa_pixel`): a value is no data when it is 0 or has any of
    /// `noDataBits` set, and invalid when it is no data or has any of `invalidBits` set.
    /// Bits are 0...15.
    public init(invalidBits: [Int], noDataBits: [Int]) throws {
        var invalidMask = 0, noDataMask = 0
        for b in invalidBits {
            guard (0...15).contains(b) else { throw CompositeError.maskBitOutOfRange(b) }
            invalidMask |= 1 << b
        }
        for b in noDataBits {
            guard (0...15).contains(b) else { throw CompositeError.maskBitOutOfRange(b) }
            noDataMask |= 1 << b
        }
        var t = [UInt8](repeating: 0, count: 65536)
        for v in 0..<65536 {
            let noData = v == 0 || v & noDataMask != 0
            let invalid = noData || v & invalidMask != 0
            t[v] = (invalid ? Self.invalidFlag : 0) | (noData ? Self.noDataFlag : 0)
        }
        table = t
        summary = "bits " + Set(invalidBits).sorted().map(String.init).joined(separator: ",")
            + "; no data: 0 or bits " + Set(noDataBits).sorted().map(String.init).joined(separator: ",")
    }

    /// True when a pixel of this mask value must be ignored.
    @_disfavoredOverload @inlinable public func isInvalid(_ value: UInt8) -> Bool { table[Int(value)] & 1 != 0 }
    @inlinable public func isInvalid(_ value: UInt16) -> Bool { table[Int(value)] & 1 != 0 }
    /// True when the scene has no data at a pixel of this mask value.
    @inlinable public func isNoData(_ value: UInt16) -> Bool { table[Int(value)] & 2 != 0 }

    /// The invalid classes 0...255 in ascending order (for a class rule).
    public var invalidClasses: [UInt8] { (0...255).compactMap { table[$0] & 1 != 0 ? UInt8($0) : nil } }

    public static func == (a: MaskRule, b: MaskRule) -> Bool { a.summary == b.summary && a.table == b.table }
}

/// Mask planes come as UInt8 (Sentinel-2 SCL) or UInt16 (Landsat QA) samples.
public protocol MaskSample: FixedWidthInteger, UnsignedInteger, Sendable {}
extension UInt8: MaskSample {}
extension UInt16: MaskSample {}
