import Foundation
import Testing
@testable import Zarr

@Suite struct CodecTests {
    static let compressions: [Compression] = [
        .bloscZstd(level: 5), .bloscZstd(level: 1, shuffle: .shuffle), .bloscZstd(level: 0, shuffle: .noshuffle),
        .zstd(level: 3), .zstd(level: -1), .none,
    ]

    static func randomChunk(_ count: Int, seed: UInt64) -> [UInt8] {
        // Half structured (compressible), half noise, so both codec paths are exercised.
        var state = seed
        return (0..<count).map { index in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return index % 2 == 0 ? UInt8(truncatingIfNeeded: index / 64) : UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    @Test(arguments: compressions)
    func roundTripsEveryDataType(_ compression: Compression) throws {
        for (offset, type) in DataType.allCases.enumerated() {
            for chunks in [[1], [3, 5], [64, 64], [2, 100, 100]] {
                let metadata = ArrayMetadata(shape: chunks, chunks: chunks, dataType: type, compression: compression)
                let raw = Self.randomChunk(metadata.chunkByteCount, seed: UInt64(offset * 100 + chunks.count))
                let stored = try raw.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
                #expect(try ChunkCodec.decode(stored, metadata: metadata) == raw)
            }
        }
    }

    @Test func compressionActuallyCompresses() throws {
        let metadata = ArrayMetadata(shape: [256, 256], chunks: [256, 256], dataType: .uint16, compression: .bloscZstd(level: 5))
        let values = (0..<65536).map { UInt16($0 % 300) }
        let stored = try values.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
        #expect(stored.count < metadata.chunkByteCount / 4)
        #expect(try ChunkCodec.decode(stored, metadata: metadata, as: UInt16.self) == values)
    }

    @Test(arguments: compressions)
    func corruptOrTruncatedInputThrows(_ compression: Compression) throws {
        let metadata = ArrayMetadata(shape: [40, 50], chunks: [40, 50], dataType: .uint16, compression: compression)
        let raw = Self.randomChunk(metadata.chunkByteCount, seed: 9)
        let stored = try raw.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
        var damaged: [Data] = [Data(), stored.prefix(10), stored.prefix(stored.count - 1), stored + Data([0])]
        if compression != .none {
            // Same-size garbage is only detectable when there is a frame to validate.
            damaged += [Data(repeating: 0xFF, count: stored.count), Data(stored.reversed())]
        }
        for data in damaged { #expect(throws: ZarrError.self) { _ = try ChunkCodec.decode(data, metadata: metadata) } }
        // Valid data for a different chunk size is rejected too.
        let other = ArrayMetadata(shape: [40, 49], chunks: [40, 49], dataType: .uint16, compression: compression)
        #expect(throws: ZarrError.self) { _ = try ChunkCodec.decode(stored, metadata: other) }
    }

    @Test func flippedBytesNeverCrash() throws {
        for compression in Self.compressions where compression != .none {
            let metadata = ArrayMetadata(shape: [1000], chunks: [1000], dataType: .int32, compression: compression)
            let raw = Self.randomChunk(metadata.chunkByteCount, seed: 3)
            let stored = try raw.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
            for position in stride(from: 0, to: stored.count, by: max(1, stored.count / 200)) {
                var copy = stored
                copy[position] ^= 0x5A
                // Either a clean error or (if the damage hit slack) a full-size decode; never a trap.
                if let decoded = try? ChunkCodec.decode(copy, metadata: metadata) { #expect(decoded.count == raw.count) }
            }
        }
    }

    @Test func zstdFramesRecordTheirContentSize() throws {
        let metadata = ArrayMetadata(shape: [300], chunks: [300], dataType: .uint8, compression: .zstd(level: 3))
        let stored = try [UInt8](repeating: 1, count: 300).withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
        // Frame header descriptor (byte 4): the Frame_Content_Size_flag bits or single-segment bit.
        #expect(stored.prefix(4) == Data([0x28, 0xB5, 0x2F, 0xFD]))
        #expect(stored[4] & 0xE0 != 0)
    }

    @Test func bloscHeaderDescribesTheChunk() throws {
        let metadata = ArrayMetadata(shape: [500], chunks: [500], dataType: .uint16, compression: .bloscZstd(level: 5))
        let values = (0..<500).map { UInt16($0) }
        let stored = try values.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
        // c-blosc 1.x header: version, versionlz, flags, typesize, nbytes (LE u32), blocksize, cbytes.
        #expect(stored[3] == 2, "typesize")
        #expect(stored[2] & 0x04 != 0, "bitshuffle flag")
        #expect(stored[2] >> 5 == 4, "zstd compressor format code")
        let nbytes = stored[4..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let cbytes = stored[12..<16].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(nbytes == 1000)
        #expect(cbytes == stored.count)
    }

    @Test func codecsAreSafeToUseFromManyThreads() throws {
        let results = ResultBox()
        DispatchQueue.concurrentPerform(iterations: 16) { worker in
            let compression = Self.compressions[worker % Self.compressions.count]
            let metadata = ArrayMetadata(shape: [128, 128], chunks: [128, 128], dataType: .uint16, compression: compression)
            let raw = Self.randomChunk(metadata.chunkByteCount, seed: UInt64(worker))
            for _ in 0..<5 {
                let decoded = try? raw.withUnsafeBytes { try ChunkCodec.decode(ChunkCodec.encode($0, metadata: metadata), metadata: metadata) }
                results.record(decoded == raw)
            }
        }
        #expect(results.failures == 0)
        #expect(results.total == 80)
    }

    @Test func wrongSizesAndTypesAreRejected() {
        let metadata = ArrayMetadata(shape: [4], chunks: [4], dataType: .uint16)
        #expect(throws: ZarrError.self) { try [UInt8](repeating: 0, count: 7).withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) } }
        #expect(throws: ZarrError.self) { _ = try ChunkCodec.decode(Data(), metadata: metadata, as: Int32.self) }
    }
}

extension Compression: CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case let .bloscZstd(level, shuffle): return "blosc-zstd \(level) \(shuffle)"
        case let .zstd(level): return "zstd \(level)"
        case .none: return "none"
        }
    }
}

/// Thread-safe tally for the concurrency test.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var total = 0
    private(set) var failures = 0
    func record(_ ok: Bool) { lock.lock(); total += 1; if !ok { failures += 1 }; lock.unlock() }
}
