import Foundation
import Testing
@testable import Zarr

@Suite struct CRC32CTests {
    @Test func crc32cVectors() {
        #expect(CRC32C.checksum(Data("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Data(count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum(Data([UInt8](repeating: 0xFF, count: 32))) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Data()) == 0)
        // Every length and alignment around the 8-byte steps agrees with a bytewise reference,
        // and checksumming in pieces equals checksumming at once.
        let bytes = CodecTests.randomChunk(100, seed: 5)
        for start in 0..<9 {
            for end in start...bytes.count {
                let piece = Array(bytes[start..<end])
                let whole = piece.withUnsafeBytes { CRC32C.checksum($0) }
                #expect(whole == Self.bitwiseCRC32C(piece))
                let split = (end - start) / 3
                let first = piece[..<split].withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer($0)) }
                #expect(piece[split...].withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer($0), continuing: first) } == whole)
            }
        }
    }

    static func bitwiseCRC32C(_ bytes: [UInt8]) -> UInt32 {
        var crc = UInt32.max
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }
}
