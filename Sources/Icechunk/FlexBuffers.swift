/// A JSON-like value: what Icechunk keeps in commit and repository metadata (serialised with
/// FlexBuffers in spec 2).
public enum MetadataValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([MetadataValue])
    case object([String: MetadataValue])
}

/// The subset of FlexBuffers that JSON values need (null, bool, int, uint, float, string, map,
/// untyped vector), written as the reference builders do: every container takes the narrowest
/// byte width that holds its size, its inline values and its offsets; map keys are sorted by
/// bytes. The decoder also reads the typed and fixed vectors and blobs other writers produce,
/// checks every offset, limits nesting and the number of values, and throws on anything else.
enum FlexBuffers {
    enum Kind: UInt8 {
        case null = 0, int = 1, uint = 2, float = 3, key = 4, string = 5
        case indirectInt = 6, indirectUInt = 7, indirectFloat = 8
        case map = 9, vector = 10, vectorInt = 11, vectorUInt = 12, vectorFloat = 13, vectorKey = 14
        case vectorStringDeprecated = 15
        case vectorInt2 = 16, vectorUInt2, vectorFloat2, vectorInt3, vectorUInt3, vectorFloat3
        case vectorInt4, vectorUInt4, vectorFloat4
        case blob = 25, bool = 26, vectorBool = 36
    }

    // MARK: encoding

    /// One value as its parent stores it: inline bits, or an offset to an object already written.
    private struct Slot {
        var kind: Kind
        var bits: UInt64 = 0          // inline payload
        var target: Int? = nil        // position of the object an offset points to
        var minWidth: Int = 1         // inline: narrowest width; object: width used inside it

        func fits(width: Int, at position: Int) -> Bool {
            if let target { return Self.unsignedFits(UInt64(position - target), width) }
            return minWidth <= width
        }

        func packedType(parentWidth: Int) -> UInt8 {
            let width = target == nil ? max(minWidth, parentWidth) : minWidth
            return kind.rawValue << 2 | UInt8(width.trailingZeroBitCount)
        }

        static func unsignedFits(_ v: UInt64, _ width: Int) -> Bool { width >= 8 || v < (UInt64(1) << UInt64(8 * width)) }
    }

    static func encode(_ value: MetadataValue) -> [UInt8] {
        var out: [UInt8] = []
        let root = write(value, into: &out)
        for width in [1, 2, 4, 8] {
            let position = align(out.count, width)
            guard root.fits(width: width, at: position) else { continue }
            pad(&out, to: position)
            store(root, at: position, width: width, into: &out)
            out.append(root.packedType(parentWidth: width))
            out.append(UInt8(width))
            return out
        }
        preconditionFailure("a FlexBuffers root always fits in 8 bytes")
    }

    private static func align(_ n: Int, _ width: Int) -> Int { (n + width - 1) / width * width }
    private static func pad(_ out: inout [UInt8], to n: Int) { while out.count < n { out.append(0) } }

    private static func appendUInt(_ v: UInt64, width: Int, into out: inout [UInt8]) {
        for i in 0..<width { out.append(UInt8((v >> UInt64(8 * i)) & 0xFF)) }
    }

    private static func store(_ slot: Slot, at position: Int, width: Int, into out: inout [UInt8]) {
        var bits = slot.bits
        if let t = slot.target { bits = UInt64(position - t) } else if slot.kind == .float && width == 4 {
            bits = UInt64(Float(Double(bitPattern: slot.bits)).bitPattern)
        }
        appendUInt(bits, width: width, into: &out)
    }

    private static func uintWidth(_ v: UInt64) -> Int { v < 1 << 8 ? 1 : v < 1 << 16 ? 2 : v < 1 << 32 ? 4 : 8 }
    private static func intWidth(_ v: Int64) -> Int {
        Int64(Int8.min)...Int64(Int8.max) ~= v ? 1 : Int64(Int16.min)...Int64(Int16.max) ~= v ? 2
            : Int64(Int32.min)...Int64(Int32.max) ~= v ? 4 : 8
    }

    private static func write(_ value: MetadataValue, into out: inout [UInt8]) -> Slot {
        switch value {
        case .null: return Slot(kind: .null)
        case .bool(let b): return Slot(kind: .bool, bits: b ? 1 : 0)
        case .uint(let u): return Slot(kind: .uint, bits: u, minWidth: uintWidth(u))
        case .int(let i):
            if i >= 0 { return Slot(kind: .uint, bits: UInt64(i), minWidth: uintWidth(UInt64(i))) }
            return Slot(kind: .int, bits: UInt64(bitPattern: i), minWidth: intWidth(i))
        case .double(let d):
            // f32 when exact, as the reference builder does.
            return Slot(kind: .float, bits: d.bitPattern, minWidth: Double(Float(d)) == d || d.isNaN ? 4 : 8)
        case .string(let s):
            let bytes = Array(s.utf8)
            let width = uintWidth(UInt64(bytes.count))
            pad(&out, to: align(out.count, width))
            appendUInt(UInt64(bytes.count), width: width, into: &out)
            let start = out.count
            out += bytes
            out.append(0)
            return Slot(kind: .string, target: start, minWidth: width)
        case .array(let items):
            let slots = items.map { write($0, into: &out) }
            return writeVector(slots, prefix: [], into: &out)
        case .object(let dict):
            let sorted = dict.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            var keys: [Slot] = []
            for k in sorted {
                let start = out.count
                out += Array(k.utf8)
                out.append(0)
                keys.append(Slot(kind: .key, target: start, minWidth: 1))
            }
            let values = sorted.map { write(dict[$0]!, into: &out) }
            let keyVector = writeVector(keys, prefix: [], typed: true, into: &out)
            return writeVector(values, prefix: [keyVector], into: &out, mapKeyWidth: keyVector.minWidth)
        }
    }

    /// A vector (or, with a key vector in `prefix`, a map) at the narrowest width that fits.
    private static func writeVector(_ slots: [Slot], prefix: [Slot], typed: Bool = false,
                                    into out: inout [UInt8], mapKeyWidth: Int? = nil) -> Slot {
        let header = mapKeyWidth == nil ? 1 : 3  // [keys offset, keys width,] size
        for width in [1, 2, 4, 8] {
            guard Slot.unsignedFits(UInt64(slots.count), width) else { continue }
            if let kw = mapKeyWidth, !Slot.unsignedFits(UInt64(kw), width) { continue }
            let headerStart = align(out.count, width)
            let start = headerStart + header * width
            if let keys = prefix.first, !keys.fits(width: width, at: headerStart) { continue }
            let fitsAll = slots.enumerated().allSatisfy { $0.element.fits(width: width, at: start + $0.offset * width) }
            guard fitsAll else { continue }
            pad(&out, to: headerStart)
            if let keys = prefix.first, let kw = mapKeyWidth {
                store(keys, at: out.count, width: width, into: &out)
                appendUInt(UInt64(kw), width: width, into: &out)
            }
            appendUInt(UInt64(slots.count), width: width, into: &out)
            for s in slots { store(s, at: out.count, width: width, into: &out) }
            if !typed { for s in slots { out.append(s.packedType(parentWidth: width)) } }
            let kind: Kind = typed ? .vectorKey : (mapKeyWidth == nil ? .vector : .map)
            return Slot(kind: kind, target: start, minWidth: width)
        }
        preconditionFailure("a FlexBuffers vector always fits at width 8")
    }

    // MARK: decoding

    static func decode(_ bytes: [UInt8]) throws -> MetadataValue {
        var decoder = Decoder(bytes: bytes)
        guard bytes.count >= 3 else { throw decoder.fail("too short") }
        let rootWidth = Int(bytes[bytes.count - 1])
        guard [1, 2, 4, 8].contains(rootWidth), bytes.count >= 2 + rootWidth else { throw decoder.fail("bad root width") }
        return try decoder.value(at: bytes.count - 2 - rootWidth, parentWidth: rootWidth, packed: bytes[bytes.count - 2], depth: 0)
    }

    private struct Decoder {
        let bytes: [UInt8]
        var budget = 1_000_000  // values: shared children cannot make decoding exponential

        func fail(_ why: String) -> IcechunkError { .corrupt("flexbuffer: \(why)") }

        func uint(_ p: Int, _ width: Int) throws -> UInt64 {
            guard p >= 0, [1, 2, 4, 8].contains(width), p <= bytes.count - width else { throw fail("read outside the buffer") }
            var v: UInt64 = 0
            for i in 0..<width { v |= UInt64(bytes[p + i]) << UInt64(8 * i) }
            return v
        }

        func int(_ p: Int, _ width: Int) throws -> Int64 {
            let u = try uint(p, width)
            let shift = UInt64(64 - 8 * width)
            return Int64(bitPattern: u << shift) >> Int64(shift)
        }

        func float(_ p: Int, _ width: Int) throws -> Double {
            switch width {
            case 4: return Double(Float(bitPattern: UInt32(try uint(p, 4))))
            case 8: return Double(bitPattern: try uint(p, 8))
            default: throw fail("float of width \(width)")
            }
        }

        /// The object an offset at `p` points back to.
        func target(_ p: Int, _ width: Int) throws -> Int {
            let off = try uint(p, width)
            guard off <= UInt64(p) else { throw fail("offset before the buffer") }
            return p - Int(off)
        }

        func cString(_ p: Int) throws -> String {
            guard p >= 0, p < bytes.count, let end = bytes[p...].firstIndex(of: 0) else { throw fail("unterminated key") }
            guard let s = String(validating: bytes[p..<end], as: UTF8.self) else { throw fail("key is not UTF-8") }
            return s
        }

        func count(_ start: Int, _ width: Int, elementBytes: Int) throws -> Int {
            let n = try uint(start - width, width)
            guard n <= UInt64(bytes.count), start + Int(n) * elementBytes <= bytes.count else { throw fail("length \(n) too large") }
            return Int(n)
        }

        mutating func value(at p: Int, parentWidth: Int, packed: UInt8, depth: Int) throws -> MetadataValue {
            budget -= 1
            guard budget > 0 else { throw fail("too many values") }
            guard depth < 64 else { throw fail("nested too deeply") }
            guard let kind = Kind(rawValue: packed >> 2) else { throw fail("unknown type \(packed >> 2)") }
            let width = 1 << Int(packed & 3)
            switch kind {
            case .null: return .null
            case .bool: return .bool(try uint(p, parentWidth) != 0)
            case .int: return .int(try int(p, parentWidth))
            case .uint: return .uint(try uint(p, parentWidth))
            case .float: return .double(try float(p, parentWidth))
            case .indirectInt: return .int(try int(target(p, parentWidth), width))
            case .indirectUInt: return .uint(try uint(target(p, parentWidth), width))
            case .indirectFloat: return .double(try float(target(p, parentWidth), width))
            case .key: return .string(try cString(target(p, parentWidth)))
            case .string, .blob:
                let t = try target(p, parentWidth)
                let n = try count(t, width, elementBytes: 1)
                if kind == .blob { return .array(bytes[t..<(t + n)].map { .uint(UInt64($0)) }) }
                guard let s = String(validating: bytes[t..<(t + n)], as: UTF8.self) else { throw fail("string is not UTF-8") }
                return .string(s)
            case .vector, .map:
                let t = try target(p, parentWidth)
                let n = try count(t, width, elementBytes: width + 1)
                var items: [MetadataValue] = []
                for i in 0..<n {
                    items.append(try value(at: t + i * width, parentWidth: width, packed: bytes[t + n * width + i], depth: depth + 1))
                }
                guard kind == .map else { return .array(items) }
                let keysField = t - 3 * width
                let keys = try target(keysField, width)
                let keyWidth = Int(try uint(t - 2 * width, width))
                guard [1, 2, 4, 8].contains(keyWidth) else { throw fail("map key width \(keyWidth)") }
                guard try count(keys, keyWidth, elementBytes: keyWidth) == n else { throw fail("map keys and values differ in number") }
                var dict: [String: MetadataValue] = [:]
                for i in 0..<n { dict[try cString(target(keys + i * keyWidth, keyWidth))] = items[i] }
                return .object(dict)
            case .vectorInt, .vectorUInt, .vectorFloat, .vectorKey, .vectorStringDeprecated, .vectorBool,
                 .vectorInt2, .vectorUInt2, .vectorFloat2, .vectorInt3, .vectorUInt3, .vectorFloat3,
                 .vectorInt4, .vectorUInt4, .vectorFloat4:
                let t = try target(p, parentWidth)
                let element: Kind
                let n: Int
                switch kind {
                case .vectorInt2, .vectorUInt2, .vectorFloat2, .vectorInt3, .vectorUInt3, .vectorFloat3,
                     .vectorInt4, .vectorUInt4, .vectorFloat4:
                    let r = Int(kind.rawValue - Kind.vectorInt2.rawValue)
                    n = r / 3 + 2
                    element = Kind(rawValue: UInt8(r % 3) + 1)!
                    guard t + n * width <= bytes.count else { throw fail("fixed vector outside the buffer") }
                default:
                    n = try count(t, width, elementBytes: width)
                    element = kind == .vectorBool ? .bool : kind == .vectorStringDeprecated ? .string
                        : Kind(rawValue: kind.rawValue - Kind.vectorInt.rawValue + Kind.int.rawValue)!
                }
                var items: [MetadataValue] = []
                for i in 0..<n {
                    items.append(try value(at: t + i * width, parentWidth: width, packed: element.rawValue << 2, depth: depth + 1))
                }
                return .array(items)
            }
        }
    }
}
