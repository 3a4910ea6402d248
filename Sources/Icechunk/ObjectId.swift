import Foundation

/// Crockford base 32 as Icechunk writes ids in object keys: upper case, no padding, zero bits
/// appended on the right when the bit count is not a multiple of 5 (12 bytes → 20 characters,
/// 8 bytes → 13). Decoding accepts lower case too, and nothing else.
public enum CrockfordBase32 {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `text`, or nil when it has a character outside the alphabet, or trailing
    /// bits that are not zero (so every byte string has exactly one spelling).
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            guard let v = value(of: c) else { return nil }
            buffer = (buffer << 5) | UInt32(v)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((buffer >> UInt32(bits)) & 0xFF))
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        if bits >= 5 || buffer != 0 { return nil }
        return out
    }

    private static func value(of c: UInt8) -> UInt8? {
        let upper = (c >= 97 && c <= 122) ? c - 32 : c
        guard let index = alphabet.firstIndex(of: upper) else { return nil }
        return UInt8(index)
    }
}

/// A 12-byte id (snapshots, manifests, chunks). Held as two big-endian integers, so values
/// compare in byte order (the order every sorted list of the format uses) without allocating.
public struct ObjectId12: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt32

    public init(high: UInt64, low: UInt32) {
        self.high = high
        self.low = low
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 12 else { return nil }
        var h: UInt64 = 0
        var l: UInt32 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = (h << 8) | UInt64(b) } else { l = (l << 8) | UInt32(b) }
        }
        high = h
        low = l
    }

    /// The id that a key names (`1CECHNKREP0F1RSTCMT0`), or nil.
    public init?(_ text: String) {
        guard text.utf8.count == 20, let bytes = CrockfordBase32.decode(text) else { return nil }
        self.init(bytes: bytes)
    }

    public static func random() -> ObjectId12 {
        var rng = SystemRandomNumberGenerator()
        return ObjectId12(high: rng.next(), low: rng.next())
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { out[i] = UInt8((high >> UInt64(56 - 8 * i)) & 0xFF) }
        for i in 0..<4 { out[8 + i] = UInt8((low >> UInt32(24 - 8 * i)) & 0xFF) }
        return out
    }

    public var description: String { CrockfordBase32.encode(bytes) }

    public static func < (a: ObjectId12, b: ObjectId12) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }
}

/// An 8-byte node id, stable for a node's lifetime. Big-endian, so it compares in byte order.
public struct NodeId: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: UInt64

    public init(value: UInt64) { self.value = value }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        value = bytes.reduce(0) { ($0 << 8) | UInt64($1) }
    }

    public static func random() -> NodeId {
        var rng = SystemRandomNumberGenerator()
        return NodeId(value: rng.next())
    }

    public var bytes: [UInt8] { (0..<8).map { UInt8((value >> UInt64(56 - 8 * $0)) & 0xFF) } }
    public var description: String { CrockfordBase32.encode(bytes) }
    public static func < (a: NodeId, b: NodeId) -> Bool { a.value < b.value }
}
