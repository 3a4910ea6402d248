import Foundation

/// A JSON document as a value: what Zarr metadata, STAC items and search bodies, and the scene
/// index are made of. Integers are kept apart from doubles (Foundation's decoders blur them),
/// so a document read and written again keeps its bytes, and an int64 is exact.
public enum JSONValue: Equatable, Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A number: `.int` when `value` is integral and exact as an Int64, `.double` otherwise.
    public static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 9.007e15 { return .int(Int64(value)) }
        return .double(value)
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case let .string(text) = self { return text }
        return nil
    }

    public var boolValue: Bool? {
        if case let .bool(flag) = self { return flag }
        return nil
    }

    /// The value as an integer if it is one (a double only when it is integral and in range).
    public var int64Value: Int64? {
        switch self {
        case let .int(value): return value
        case let .double(value):
            guard value.rounded() == value, abs(value) < 9.2e18 else { return nil }
            return Int64(value)
        default: return nil
        }
    }

    /// `int64Value` as an `Int`.
    public var intValue: Int? { int64Value.map { Int($0) } }

    /// The value as a double: numbers, and the strings "NaN", "Infinity", "-Infinity" (how
    /// Zarr and Python's json module spell what JSON cannot).
    public var doubleValue: Double? {
        switch self {
        case let .int(value): return Double(value)
        case let .double(value): return value
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case let .array(items) = self { return items }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case let .object(members) = self { return members }
        return nil
    }

    public var isNull: Bool { self == .null }

    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    /// Shallow merge of two objects (`other` wins); any other pair gives `other`.
    public func merging(_ other: JSONValue) -> JSONValue {
        guard case .object(var base) = self, case .object(let extra) = other else { return other }
        for (k, v) in extra { base[k] = v }
        return .object(base)
    }
}

// Not ExpressibleByNilLiteral: `nil` must stay Optional's (a `cond ? nil : value` would silently
// become JSON null). Write `.null`.
extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue {
    /// Convenience for the common integer arrays of Zarr metadata (shapes, chunk shapes).
    public static func ints(_ values: [Int]) -> JSONValue { .array(values.map { .int(Int64($0)) }) }
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {  // before numbers: true is never 1
            self = .bool(flag)
        } else if let integer = try? container.decode(Int64.self) {
            self = .int(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .double(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let items = try? container.decode([JSONValue].self) {
            self = .array(items)
        } else if let members = try? container.decode([String: JSONValue].self) {
            self = .object(members)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(flag): try container.encode(flag)
        case let .int(integer): try container.encode(integer)
        case let .double(number):
            if number.isFinite { try container.encode(number) } else { try container.encode(JSONWriter.nonFiniteName(number)) }
        case let .string(text): try container.encode(text)
        case let .array(items): try container.encode(items)
        case let .object(members): try container.encode(members)
        }
    }
}
