import Foundation

/// Deterministic JSON text for `JSONValue`: object keys sorted by their UTF-8 bytes, 2-space
/// indentation, arrays of scalars on one line, integers as integers, doubles in Swift's
/// shortest round-trip form. The same value always gives the same bytes.
enum JSONWriter {
    static func write(_ value: JSONValue, pretty: Bool) -> String {
        var out = ""
        append(value, to: &out, indent: pretty ? 0 : nil)
        if pretty { out += "\n" }
        return out
    }

    static func nonFiniteName(_ value: Double) -> String {
        value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")
    }

    /// `indent` nil = compact; otherwise the current nesting depth.
    private static func append(_ value: JSONValue, to out: inout String, indent: Int?) {
        switch value {
        case .null: out += "null"
        case let .bool(flag): out += flag ? "true" : "false"
        case let .int(integer): out += String(integer)
        case let .double(number): appendNumber(number, to: &out)
        case let .string(text): appendString(text, to: &out)
        case let .array(items):
            let inline = indent == nil || items.allSatisfy(\.isScalar)
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += inline && indent != nil ? ", " : "," }
                if !inline, let depth = indent { newline(depth + 1, &out) }
                append(item, to: &out, indent: indent.map { $0 + 1 })
            }
            if !inline, let depth = indent { newline(depth, &out) }
            out += "]"
        case let .object(members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out += "," }
                if let depth = indent { newline(depth + 1, &out) }
                appendString(key, to: &out)
                out += indent == nil ? ":" : ": "
                append(members[key] ?? .null, to: &out, indent: indent.map { $0 + 1 })
            }
            if let depth = indent { newline(depth, &out) }
            out += "}"
        }
    }

    private static func newline(_ depth: Int, _ out: inout String) {
        out += "\n"
        out += String(repeating: "  ", count: depth)
    }

    private static func appendNumber(_ number: Double, to out: inout String) {
        guard number.isFinite else {
            appendString(nonFiniteName(number), to: &out)
            return
        }
        // Swift's description is the shortest text that round-trips ("0.1", "1e-05",
        // "1.7976931348623157e+308") and is valid JSON for finite values.
        out += number == 0 ? (number.sign == .minus ? "-0.0" : "0.0") : "\(number)"
    }

    private static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension JSONValue {
    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    /// Deterministic JSON text (see `JSONWriter`); `pretty` indents objects by two spaces.
    public func serialized(pretty: Bool = true) -> String { JSONWriter.write(self, pretty: pretty) }

    /// Deterministic UTF-8 JSON bytes, as stored in metadata documents.
    public func data(pretty: Bool = true) -> Data { Data(serialized(pretty: pretty).utf8) }
}
