import Foundation

/// Deterministic JSON text for `JSONValue`: object keys sorted by their UTF-8 bytes, integers as
/// integers, doubles in Swift's shortest round-trip form, slashes not escaped. Pretty output
/// indents by two spaces and keeps arrays of scalars on one line. The same value always gives
/// the same bytes, so stored documents can be compared and hashed.
enum JSONWriter {
    static func nonFiniteName(_ value: Double) -> String {
        value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")
    }

    /// `indent` nil = compact; otherwise the current nesting depth.
    static func write(_ value: JSONValue, into out: inout [UInt8], indent: Int?) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case let .bool(flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case let .int(integer): out.append(contentsOf: String(integer).utf8)
        case let .double(number): writeNumber(number, into: &out)
        case let .string(text): writeString(text, into: &out)
        case let .array(items):
            if items.isEmpty { out.append(contentsOf: "[]".utf8); return }
            let inline = indent == nil || items.allSatisfy(\.isScalar)
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(contentsOf: (inline && indent != nil ? ", " : ",").utf8) }
                if !inline, let depth = indent { newline(depth + 1, &out) }
                write(item, into: &out, indent: indent.map { $0 + 1 })
            }
            if !inline, let depth = indent { newline(depth, &out) }
            out.append(UInt8(ascii: "]"))
        case let .object(members):
            if members.isEmpty { out.append(contentsOf: "{}".utf8); return }
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                if let depth = indent { newline(depth + 1, &out) }
                writeString(key, into: &out)
                out.append(contentsOf: (indent == nil ? ":" : ": ").utf8)
                write(members[key] ?? .null, into: &out, indent: indent.map { $0 + 1 })
            }
            if let depth = indent { newline(depth, &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func newline(_ depth: Int, _ out: inout [UInt8]) {
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }

    private static func writeNumber(_ number: Double, into out: inout [UInt8]) {
        guard number.isFinite else {
            writeString(nonFiniteName(number), into: &out)
            return
        }
        // Swift's description is the shortest text that round-trips ("0.1", "1e-05",
        // "1.7976931348623157e+308") and is valid JSON for finite values.
        let text = number == 0 ? (number.sign == .minus ? "-0.0" : "0.0") : "\(number)"
        out.append(contentsOf: text.utf8)
    }

    private static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// How Zarr (and Python's json module) spell a non-finite double: "NaN", "Infinity", "-Infinity".
    public static func nonFiniteName(_ value: Double) -> String { JSONWriter.nonFiniteName(value) }

    /// Deterministic UTF-8 JSON bytes (see `JSONWriter`); `pretty` indents by two spaces.
    public func data(pretty: Bool = true) -> Data {
        var out = [UInt8]()
        out.reserveCapacity(1024)
        JSONWriter.write(self, into: &out, indent: pretty ? 0 : nil)
        if pretty { out.append(0x0A) }
        return Data(out)
    }

    /// `data(pretty:)` as text.
    public func serialized(pretty: Bool = true) -> String {
        String(decoding: data(pretty: pretty), as: UTF8.self)
    }
}
