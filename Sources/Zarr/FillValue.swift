import JSON
/// An array's fill value: what a reader returns for elements of chunks that were never
/// written. Integers are exact; NaN fill values compare equal to each other.
public enum FillValue: Sendable, CustomStringConvertible {
    case integer(Int64)
    case float(Double)

    public static let zero = FillValue.integer(0)

    public var description: String {
        switch self {
        case let .integer(value): return String(value)
        case let .float(value): return String(value)
        }
    }

    /// The metadata JSON for an array of `dataType` (both formats): an integer for integer
    /// types, a number or "NaN"/"Infinity"/"-Infinity" for floats.
    func json(for dataType: DataType) -> JSONValue {
        switch (self, dataType.isFloatingPoint) {
        case let (.integer(value), false): return .int(value)
        case let (.integer(value), true): return .double(Double(value))
        case let (.float(value), true): return value.isFinite ? .double(value) : .string(JSONValue.nonFiniteName(value))
        case let (.float(value), false): return .int(Int64(value))  // validate() guarantees integral
        }
    }

    /// Parses a metadata fill value; null (v2 "no fill value") reads as zero.
    static func parse(_ json: JSONValue, for dataType: DataType) throws -> FillValue {
        if json == .null { return dataType.isFloatingPoint ? .float(0) : .integer(0) }
        if dataType.isFloatingPoint {
            guard let value = json.doubleValue else { throw ZarrError.unsupported("fill_value \(json.serialized(pretty: false)) for \(dataType.rawValue)") }
            return .float(value)
        }
        guard case let .int(value) = json else { throw ZarrError.invalidMetadata("fill_value \(json.serialized(pretty: false)) is not an integer for \(dataType.rawValue)") }
        return .integer(value)
    }

    /// Throws unless the value is representable in `dataType`.
    func validate(for dataType: DataType) throws {
        let range: ClosedRange<Double>
        switch dataType {
        case .float32, .float64: return
        case .int8: range = -128...127
        case .uint8: range = 0...255
        case .int16: range = -32768...32767
        case .uint16: range = 0...65535
        case .int32: range = -2147483648...2147483647
        case .uint32: range = 0...4294967295
        case .int64, .uint64: range = -9.3e18...9.3e18
        }
        switch self {
        case let .integer(value):
            if dataType == .uint64 && value < 0 { break }
            if dataType == .int64 || dataType == .uint64 || range.contains(Double(value)) { return }
        case let .float(value):
            if value.isFinite, value.rounded() == value, range.contains(value), abs(value) < 9.2e18 { return }
        }
        throw ZarrError.invalidMetadata("fill value \(self) does not fit \(dataType.rawValue)")
    }

    /// One element of this fill value as little-endian bytes of `dataType`.
    func bytes(for dataType: DataType) -> [UInt8] {
        func raw<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
        let integer: Int64
        switch self {
        case let .integer(value): integer = value
        case let .float(value): integer = value.isFinite ? Int64(value) : 0
        }
        let double: Double
        switch self {
        case let .integer(value): double = Double(value)
        case let .float(value): double = value
        }
        switch dataType {
        case .int8: return raw(Int8(truncatingIfNeeded: integer).littleEndian)
        case .uint8: return raw(UInt8(truncatingIfNeeded: integer).littleEndian)
        case .int16: return raw(Int16(truncatingIfNeeded: integer).littleEndian)
        case .uint16: return raw(UInt16(truncatingIfNeeded: integer).littleEndian)
        case .int32: return raw(Int32(truncatingIfNeeded: integer).littleEndian)
        case .uint32: return raw(UInt32(truncatingIfNeeded: integer).littleEndian)
        case .int64: return raw(integer.littleEndian)
        case .uint64: return raw(UInt64(truncatingIfNeeded: integer).littleEndian)
        case .float32: return raw(Float(double).bitPattern.littleEndian)
        case .float64: return raw(double.bitPattern.littleEndian)
        }
    }
}

extension FillValue: Equatable {
    public static func == (lhs: FillValue, rhs: FillValue) -> Bool {
        switch (lhs, rhs) {
        case let (.integer(a), .integer(b)): return a == b
        case let (.float(a), .float(b)): return a == b || (a.isNaN && b.isNaN)
        default: return false
        }
    }
}
