import Foundation

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the v3 `crc32c`
/// codec that guards a shard's index. Slicing-by-8: eight bytes per step through eight
/// 256-entry tables, so a shard index (16 bytes per inner chunk) costs almost nothing.
enum CRC32C {
    /// tables[k * 256 + i]: the CRC of byte i followed by k zero bytes (k = 0 is the classic table).
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(slice - 1) * 256 + byte]
                tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The CRC-32C of `bytes`; pass a previous result as `continuing` to checksum data in pieces.
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return previous }
        return tables.withUnsafeBufferPointer { table in
            var crc = ~previous
            var position = 0
            let count = bytes.count
            while count - position >= 8 {
                let low = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
                crc = table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                position += 8
            }
            while position < count {
                crc = table[Int((crc ^ UInt32(base.load(fromByteOffset: position, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                position += 1
            }
            return ~crc
        }
    }

    static func checksum<Bytes: ContiguousBytes>(_ bytes: Bytes) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
