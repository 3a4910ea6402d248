/// The on-disk Zarr format.
public enum ZarrFormat: Int, Sendable, Equatable, CaseIterable {
    case v2 = 2
    case v3 = 3
}

/// Element types, stored little-endian. `rawValue` is the Zarr v3 `data_type` name.
public enum DataType: String, Sendable, Equatable, CaseIterable {
    case int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64

    /// Bytes per element (also blosc's `typesize`).
    public var size: Int {
        switch self {
        case .int8, .uint8: return 1
        case .int16, .uint16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// The numpy type string of Zarr v2 `.zarray` "dtype", e.g. "<u2"; "|u1" for bytes,
    /// which have no byte order.
    public var v2TypeString: String {
        let kind: String
        switch self {
        case .int8, .int16, .int32, .int64: kind = "i"
        case .uint8, .uint16, .uint32, .uint64: kind = "u"
        case .float32, .float64: kind = "f"
        }
        return (size == 1 ? "|" : "<") + kind + String(size)
    }

    /// Parses a v2 type string; accepts "<" or "|" for bytes and rejects big-endian.
    public init?(v2TypeString text: String) {
        guard let match = DataType.allCases.first(where: { candidate in
            text == candidate.v2TypeString || (candidate.size == 1 && text == "<" + candidate.v2TypeString.dropFirst())
        }) else { return nil }
        self = match
    }
}

/// Swift element types that map one to one onto a `DataType`, for typed chunk I/O.
public protocol ZarrScalar: Sendable {
    static var zarrDataType: DataType { get }
}

extension Int8: ZarrScalar { public static var zarrDataType: DataType { .int8 } }
extension UInt8: ZarrScalar { public static var zarrDataType: DataType { .uint8 } }
extension Int16: ZarrScalar { public static var zarrDataType: DataType { .int16 } }
extension UInt16: ZarrScalar { public static var zarrDataType: DataType { .uint16 } }
extension Int32: ZarrScalar { public static var zarrDataType: DataType { .int32 } }
extension UInt32: ZarrScalar { public static var zarrDataType: DataType { .uint32 } }
extension Int64: ZarrScalar { public static var zarrDataType: DataType { .int64 } }
extension UInt64: ZarrScalar { public static var zarrDataType: DataType { .uint64 } }
extension Float: ZarrScalar { public static var zarrDataType: DataType { .float32 } }
extension Double: ZarrScalar { public static var zarrDataType: DataType { .float64 } }
