/// Which mask classes (Sentinel-2 SCL values) make a pixel invalid, as a 256-entry lookup
/// table so the fusion loop pays one load per pixel.
public struct MaskRule: Sendable, Equatable {
    /// SCL classes dropped by default: 0 no data, 1 saturated/defective, 3 cloud shadow,
    /// 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus.
    public static let defaultInvalidClasses: [UInt8] = [0, 1, 3, 8, 9, 10]

    /// The default Sentinel-2 rule (`defaultInvalidClasses`).
    public static let sentinel2Default = MaskRule(validatedClasses: defaultInvalidClasses)

    /// 1 where the class is invalid, 0 otherwise; always 256 entries.
    @usableFromInline let table: [UInt8]

    /// Builds a rule from class numbers; each must be in 0...255.
    public init<S: Sequence>(invalidClasses: S) throws where S.Element: BinaryInteger {
        var classes: [UInt8] = []
        for c in invalidClasses {
            guard let v = UInt8(exactly: c) else { throw CompositeError.maskClassOutOfRange(Int(c)) }
            classes.append(v)
        }
        self.init(validatedClasses: classes)
    }

    private init(validatedClasses: [UInt8]) {
        var t = [UInt8](repeating: 0, count: 256)
        for c in validatedClasses { t[Int(c)] = 1 }
        table = t
    }

    /// True when a pixel of this mask class must be ignored.
    @inlinable public func isInvalid(_ maskClass: UInt8) -> Bool { table[Int(maskClass)] != 0 }

    /// The invalid classes in ascending order.
    public var invalidClasses: [UInt8] { (0...255).compactMap { table[$0] != 0 ? UInt8($0) : nil } }
}
