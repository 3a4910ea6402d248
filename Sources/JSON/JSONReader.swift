import Foundation

/// Why a JSON text did not parse, and where.
public struct JSONError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// Byte offset of the problem.
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSONValue {
    /// Parses JSON text: strict RFC 8259 UTF-8, plus the bare tokens NaN, Infinity and -Infinity
    /// that Python's json module writes. Text in another encoding (UTF-16/32, a byte order mark)
    /// is handed to Foundation's decoder. Throws `JSONError` with the byte offset.
    public static func parse(_ data: Data) throws(JSONError) -> JSONValue {
        let result = data.withUnsafeBytes { raw -> Result<JSONValue, JSONError> in
            var reader = JSONReader(bytes: raw.bindMemory(to: UInt8.self))
            do throws(JSONError) { return .success(try reader.document()) } catch { return .failure(error) }
        }
        switch result {
        case .success(let value): return value
        case .failure(let error):
            if JSONReader.isOtherEncoding(data), let value = try? JSONDecoder().decode(JSONValue.self, from: data) {
                return value
            }
            throw error
        }
    }
}

/// A byte-level reader: Foundation's `JSONDecoder` decodes a `Codable` enum at about 4 MB/s,
/// which made reading a continental catalog's search pages (and the scene index) most of the
/// index build; this is some 20 times faster.
struct JSONReader {
    static let maxDepth = 512

    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// A byte order mark, or the zero bytes of UTF-16/32 among the first four.
    static func isOtherEncoding(_ data: Data) -> Bool {
        let head = [UInt8](data.prefix(4))
        return head.starts(with: [0xEF, 0xBB, 0xBF]) || head.starts(with: [0xFF, 0xFE])
            || head.starts(with: [0xFE, 0xFF]) || head.contains(0)
    }

    func fail(_ message: String) -> JSONError { JSONError(message: message, offset: at) }

    mutating func document() throws(JSONError) -> JSONValue {
        skipSpace()
        let value = try self.value()
        skipSpace()
        guard at == bytes.count else { throw fail("unexpected text after the JSON value") }
        return value
    }

    mutating func skipSpace() {
        while at < bytes.count {
            let b = bytes[at]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            at += 1
        }
    }

    mutating func value() throws(JSONError) -> JSONValue {
        guard at < bytes.count else { throw fail("unexpected end of JSON") }
        switch bytes[at] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N"): try literal("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try literal("Infinity"); return .double(.infinity)
        case UInt8(ascii: "-") where at + 1 < bytes.count && bytes[at + 1] == UInt8(ascii: "I"):
            try literal("-Infinity"); return .double(-.infinity)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard at + n <= bytes.count else { throw fail("unexpected end of JSON") }
        let w = word.utf8Start
        for i in 0..<n where bytes[at + i] != w[i] { throw fail("unexpected character") }
        at += n
    }

    mutating func nest() throws(JSONError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("JSON nested too deeply") }
    }

    mutating func object() throws(JSONError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        at += 1
        var out: [String: JSONValue] = [:]
        skipSpace()
        if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(out) }
        while true {
            skipSpace()
            guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw fail("expected an object key") }
            let key = try string()
            skipSpace()
            guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            at += 1
            skipSpace()
            let v = try value()
            // A repeated key keeps its first value, as Foundation's reader does.
            if out[key] == nil { out[key] = v }
            skipSpace()
            guard at < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
            if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(out) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func array() throws(JSONError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        at += 1
        var out: [JSONValue] = []
        skipSpace()
        if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(out) }
        while true {
            skipSpace()
            out.append(try value())
            skipSpace()
            guard at < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
            if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(out) }
            throw fail("expected ',' or ']'")
        }
    }

    /// A string starting at the opening quote.
    mutating func string() throws(JSONError) -> String {
        at += 1
        let start = at
        // Fast path: no escapes.
        while at < bytes.count {
            let b = bytes[at]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<at])
                guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                at += 1
                return s
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            at += 1
        }
        var out = [UInt8](bytes[start..<at])
        while at < bytes.count {
            let b = bytes[at]
            if b == UInt8(ascii: "\"") {
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                at += 1
                return s
            }
            guard b >= 0x20 else { throw fail("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); at += 1; continue }
            at += 1
            guard at < bytes.count else { break }
            let e = bytes[at]
            at += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u")
                    else { throw fail("unpaired surrogate") }
                    at += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard at + 4 <= bytes.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[at]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            at += 1
        }
        return v
    }

    /// RFC 8259 number grammar. Integers that fit stay `.int`; the rest are converted by the C
    /// library (correctly rounded).
    mutating func number() throws(JSONError) -> JSONValue {
        let start = at
        var negative = false
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { negative = true; at += 1 }
        guard at < bytes.count else { throw fail("invalid number") }
        var integral = true
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
        } else {
            guard isDigit(bytes[at]) else { throw fail("invalid number") }
            while at < bytes.count, isDigit(bytes[at]) {
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(bytes[at] - 0x30))
                overflow = overflow || o1 || o2
                magnitude = s
                at += 1
            }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            integral = false
            at += 1
            guard at < bytes.count, isDigit(bytes[at]) else { throw fail("invalid number") }
            while at < bytes.count, isDigit(bytes[at]) { at += 1 }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            integral = false
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard at < bytes.count, isDigit(bytes[at]) else { throw fail("invalid number") }
            while at < bytes.count, isDigit(bytes[at]) { at += 1 }
        }
        if integral && !overflow {
            if !negative, magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
            if negative, magnitude <= UInt64(Int64.max) + 1 { return .int(Int64(truncatingIfNeeded: 0 &- magnitude)) }
        }
        let count = at - start
        // Short numbers on the stack; strtod needs a terminated string.
        let value = withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buf -> Double? in
            for i in 0..<count { buf[i] = CChar(bitPattern: bytes[start + i]) }
            buf[count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(buf.baseAddress!, &end)
            return end == buf.baseAddress! + count && v.isFinite ? v : nil
        }
        guard let value else { at = start; throw fail("invalid number") }
        return .double(value)
    }

    func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
