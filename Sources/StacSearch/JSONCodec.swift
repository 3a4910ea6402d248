import Foundation

/// A byte-level JSON reader and writer for `JSONValue`. Foundation's `JSONDecoder` decodes a
/// `Codable` enum at about 4 MB/s here, which made reading a continental catalog's search pages
/// (and writing the scene index) most of the index build; this is some 20 times faster.
/// Strict RFC 8259 UTF-8; anything it does not take (other encodings, a byte order mark) is
/// handed to `JSONDecoder`, so what parses means the same as before.
enum JSONCodec {
    static let maxDepth = 512

    struct Failure: Error {}

    static func parse(_ data: Data) throws -> JSONValue {
        let fast: JSONValue? = data.withUnsafeBytes { raw in
            var reader = Reader(bytes: raw.bindMemory(to: UInt8.self))
            return try? reader.document()
        }
        if let fast { return fast }
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var at = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func document() throws -> JSONValue {
            skipSpace()
            let value = try self.value()
            skipSpace()
            guard at == bytes.count else { throw Failure() }
            return value
        }

        mutating func skipSpace() {
            while at < bytes.count {
                let b = bytes[at]
                guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
                at += 1
            }
        }

        mutating func value() throws -> JSONValue {
            guard at < bytes.count else { throw Failure() }
            switch bytes[at] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let n = word.utf8CodeUnitCount
            guard at + n <= bytes.count else { throw Failure() }
            let w = word.utf8Start
            for i in 0..<n where bytes[at + i] != w[i] { throw Failure() }
            at += n
        }

        mutating func object() throws -> JSONValue {
            depth += 1
            guard depth <= JSONCodec.maxDepth else { throw Failure() }
            defer { depth -= 1 }
            at += 1
            var out: [String: JSONValue] = [:]
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(out) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw Failure() }
                let key = try string()
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw Failure() }
                at += 1
                skipSpace()
                let v = try value()
                // A repeated key keeps its first value, as Foundation's reader does.
                if out[key] == nil { out[key] = v }
                skipSpace()
                guard at < bytes.count else { throw Failure() }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(out) }
                throw Failure()
            }
        }

        mutating func array() throws -> JSONValue {
            depth += 1
            guard depth <= JSONCodec.maxDepth else { throw Failure() }
            defer { depth -= 1 }
            at += 1
            var out: [JSONValue] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(out) }
            while true {
                skipSpace()
                out.append(try value())
                skipSpace()
                guard at < bytes.count else { throw Failure() }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(out) }
                throw Failure()
            }
        }

        /// A string starting at the opening quote.
        mutating func string() throws -> String {
            at += 1
            let start = at
            // Fast path: no escapes.
            while at < bytes.count {
                let b = bytes[at]
                if b == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<at])
                    at += 1
                    guard let s = String(validating: slice, as: UTF8.self) else { throw Failure() }
                    return s
                }
                if b == UInt8(ascii: "\\") || b < 0x20 { break }
                at += 1
            }
            var out = [UInt8](bytes[start..<at])
            while at < bytes.count {
                let b = bytes[at]
                if b == UInt8(ascii: "\"") {
                    at += 1
                    guard let s = String(validating: out, as: UTF8.self) else { throw Failure() }
                    return s
                }
                guard b >= 0x20 else { throw Failure() }
                if b != UInt8(ascii: "\\") { out.append(b); at += 1; continue }
                at += 1
                guard at < bytes.count else { throw Failure() }
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
                        else { throw Failure() }
                        at += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw Failure() }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw Failure()
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw Failure() }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw Failure()
                }
            }
            throw Failure()
        }

        mutating func hex4() throws -> UInt32 {
            guard at + 4 <= bytes.count else { throw Failure() }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[at]
                let d: UInt32
                switch b {
                case 0x30...0x39: d = UInt32(b - 0x30)
                case 0x41...0x46: d = UInt32(b - 0x41 + 10)
                case 0x61...0x66: d = UInt32(b - 0x61 + 10)
                default: throw Failure()
                }
                v = v << 4 | d
                at += 1
            }
            return v
        }

        /// RFC 8259 number grammar, converted by the C library (correctly rounded).
        mutating func number() throws -> Double {
            let start = at
            if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard at < bytes.count else { throw Failure() }
            if bytes[at] == UInt8(ascii: "0") {
                at += 1
            } else {
                guard isDigit(bytes[at]) else { throw Failure() }
                while at < bytes.count, isDigit(bytes[at]) { at += 1 }
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
                at += 1
                guard at < bytes.count, isDigit(bytes[at]) else { throw Failure() }
                while at < bytes.count, isDigit(bytes[at]) { at += 1 }
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
                at += 1
                if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
                guard at < bytes.count, isDigit(bytes[at]) else { throw Failure() }
                while at < bytes.count, isDigit(bytes[at]) { at += 1 }
            }
            let count = at - start
            // Short numbers on the stack; strtod needs a terminated string.
            return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buf in
                for i in 0..<count { buf[i] = CChar(bitPattern: bytes[start + i]) }
                buf[count] = 0
                var end: UnsafeMutablePointer<CChar>?
                let v = strtod(buf.baseAddress!, &end)
                guard end == buf.baseAddress! + count, v.isFinite else { throw Failure() }
                return v
            }
        }

        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    }

    // MARK: writing

    /// Compact, keys sorted (by their UTF-8 bytes), slashes not escaped.
    static func serialize(_ value: JSONValue) -> Data {
        var out = [UInt8]()
        out.reserveCapacity(4096)
        write(value, into: &out)
        return Data(out)
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): writeNumber(n, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(o[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeNumber(_ n: Double, into out: inout [UInt8]) {
        // Whole numbers without ".0" (servers may insist on integers, e.g. `limit`); JSON has
        // no NaN or infinity.
        if !n.isFinite {
            out.append(contentsOf: "null".utf8)
        } else if n.rounded() == n, abs(n) < 9.007e15 {
            out.append(contentsOf: String(Int64(n)).utf8)
        } else {
            out.append(contentsOf: "\(n)".utf8)
        }
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
