import CubeStore
import Foundation
import Testing
@testable import Zarr

@Suite struct ShardingTests {
    static let u16 = ShardMetadataTests.u16
    static let f32 = ShardMetadataTests.f32

    /// One shard of `metadata` in C order, `value(position)` except where `isFill(position)`.
    static func shard<T>(_ metadata: ArrayMetadata, fill: T, isFill: ([Int]) -> Bool = { _ in false }, value: ([Int]) -> T) -> [T] {
        TestCube.allIndices(metadata.chunks).map { isFill($0) ? fill : value($0) }
    }

    static func u16Shard(isFill: ([Int]) -> Bool = { _ in false }) -> [UInt16] {
        shard(u16, fill: 7, isFill: isFill) { UInt16($0[0] * 1000 + $0[1] * 37 + $0[2] * 3 + 100) }
    }

    static func encode<T>(_ values: [T], _ metadata: ArrayMetadata) throws -> Data {
        try values.withUnsafeBytes { try ChunkCodec.encode($0, metadata: metadata) }
    }

    static func index(of stored: Data, _ metadata: ArrayMetadata) throws -> ShardIndex {
        try ShardIndex(stored.suffix(try ShardIndex.byteCount(metadata: metadata)), metadata: metadata, shardByteCount: stored.count)
    }

    /// The block of inner chunk `position` cut out of a decoded shard, in C order.
    static func block<T>(_ shard: [T], _ metadata: ArrayMetadata, _ position: [Int]) -> [T] {
        let inner = metadata.innerChunks!
        return TestCube.allIndices(inner).map { local in
            let global = zip(zip(position, inner), local).map { $0.0 * $0.1 + $1 }
            return shard[zip(global, metadata.chunks).reduce(0) { $0 * $1.1 + $1.0 }]
        }
    }

    // MARK: codec

    @Test func uint16ShardRoundTripsWithAbsentInnerChunks() throws {
        let metadata = Self.u16
        // Inner chunk (0, 1, 2) and all of t = 1 are fill: 1 + 6 inner chunks not stored.
        let isFill: ([Int]) -> Bool = { p in p[0] == 1 || ((4..<8).contains(p[1]) && (8..<12).contains(p[2]) && p[0] == 0) }
        let values = Self.u16Shard(isFill: isFill)
        let stored = try Self.encode(values, metadata)
        #expect(try ChunkCodec.decode(stored, metadata: metadata, as: UInt16.self) == values)
        let index = try Self.index(of: stored, metadata)
        #expect(index.innerCount == 12 && index.gridShape == [2, 2, 3])
        let absent = (0..<12).filter { index.range(ofInner: $0) == nil }
        #expect(absent == [5, 6, 7, 8, 9, 10, 11])
        #expect(index.range(ofInner: [0, 1, 2]) == nil && index.range(ofInner: [0, 1, 1]) != nil)
        // Stored inner chunks are back to back from offset 0, in C order, then the index.
        let present = (0..<12).compactMap { index.range(ofInner: $0) }
        #expect(present.first?.lowerBound == 0)
        #expect(zip(present, present.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(present.last?.upperBound == stored.count - 16 * 12 - 4)
    }

    @Test func float32ShardWithNaNFill() throws {
        let metadata = Self.f32
        var values = Self.shard(metadata, fill: Float.nan, isFill: { $0[0] < 3 && $0[1] >= 5 }) { Float($0[0]) * 0.5 - Float($0[1]) * 0.25 }
        values[0] = -0.0  // not the fill value, not zero bytes: stored
        values[1] = Float(bitPattern: 0x7FC0_0001)  // a NaN, but not the fill value's bytes: stored
        let stored = try Self.encode(values, metadata)
        let decoded = try ChunkCodec.decode(stored, metadata: metadata, as: Float.self)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
        let index = try Self.index(of: stored, metadata)
        #expect((0..<4).map { index.range(ofInner: $0) == nil } == [false, true, false, false])
    }

    @Test(arguments: CodecTests.compressions)
    func everyCompressionAndLayoutRoundTrips(_ compression: Compression) throws {
        // Contiguous inner blocks ([1, 8, 12], [2, 4, 12]), strided ones, and the shard as its
        // own single inner chunk.
        for inner in [[1, 4, 4], [1, 8, 12], [2, 4, 12], [2, 8, 12], [1, 1, 3], [2, 2, 6]] {
            var metadata = Self.u16
            metadata.compression = compression
            metadata.innerChunks = inner
            try metadata.validate()
            let values = Self.u16Shard(isFill: { $0[2] < 3 })
            let stored = try Self.encode(values, metadata)
            #expect(try ChunkCodec.decode(stored, metadata: metadata, as: UInt16.self) == values, "inner \(inner)")
        }
        for type in DataType.allCases {
            let metadata = ArrayMetadata(shape: [7, 9], chunks: [4, 6], dataType: type, compression: compression, innerChunks: [2, 3])
            let raw = CodecTests.randomChunk(metadata.chunkByteCount, seed: 11)
            let stored = try Self.encode(raw, metadata)
            #expect(try ChunkCodec.decode(stored, metadata: metadata) == raw, "\(type)")
        }
        let scalar = ArrayMetadata(shape: [], chunks: [], dataType: .int32, fillValue: .integer(-2), compression: compression, innerChunks: [])
        #expect(try ChunkCodec.decode(Self.encode([Int32(5)], scalar), metadata: scalar, as: Int32.self) == [5])
        #expect(try ChunkCodec.decode(Self.encode([Int32(-2)], scalar), metadata: scalar, as: Int32.self) == [-2])
    }

    @Test func allFillShardIsJustTheIndex() throws {
        let metadata = Self.u16
        let values = [UInt16](repeating: 7, count: metadata.chunkElementCount)
        let stored = try Self.encode(values, metadata)
        #expect(stored.count == 16 * 12 + 4)
        #expect(stored.prefix(16 * 12).allSatisfy { $0 == 0xFF })
        #expect(try ChunkCodec.decode(stored, metadata: metadata, as: UInt16.self) == values)
        let floats = [Float](repeating: .nan, count: Self.f32.chunkElementCount)
        let decoded = try ChunkCodec.decode(Self.encode(floats, Self.f32), metadata: Self.f32, as: Float.self)
        #expect(decoded.count == floats.count && decoded.allSatisfy(\.isNaN))
    }

    @Test func partialReadOfOneInnerChunkEqualsTheFullDecode() throws {
        for metadata in [Self.u16, Self.f32] {
            let values = CodecTests.randomChunk(metadata.chunkByteCount, seed: 21)
            let stored = try Self.encode(values, metadata)
            let full = try ChunkCodec.decode(stored, metadata: metadata)
            #expect(full == values)
            // What a range reader does: the index from the end, then one inner chunk's bytes.
            let indexBytes = stored.suffix(try ShardIndex.byteCount(metadata: metadata))
            let index = try ShardIndex(Data(indexBytes), metadata: metadata)
            let size = metadata.dataType.size
            for position in TestCube.allIndices(metadata.innerChunkGridShape) {
                let range = try #require(index.range(ofInner: position))
                let inner = try ChunkCodec.decodeInner(Data(stored[range]), metadata: metadata)
                #expect(inner.count == metadata.innerChunkByteCount)
                // Compare element by element (as byte groups) with the full decode's block.
                let elements = stride(from: 0, to: full.count, by: size).map { Array(full[$0..<$0 + size]) }
                let innerElements = stride(from: 0, to: inner.count, by: size).map { Array(inner[$0..<$0 + size]) }
                #expect(innerElements == Self.block(elements, metadata, position))
            }
        }
        #expect(throws: ZarrError.self) { _ = try ShardIndex.byteCount(metadata: TestCube.red) }
        #expect(throws: ZarrError.self) { _ = try ChunkCodec.decodeInner(Data(), metadata: Self.u16) }
    }

    @Test func invalidMetadataThrowsInsteadOfTrapping() {
        var bad = Self.u16
        bad.innerChunks = [1, 0, 4]
        #expect(throws: ZarrError.self) { _ = try ChunkCodec.decode(Data(count: 500), metadata: bad) }
        #expect(throws: ZarrError.self) { _ = try Self.encode(Self.u16Shard(), bad) }
        #expect(throws: ZarrError.self) { _ = try ShardIndex(Data(count: 196), metadata: bad) }
        bad.innerChunks = [1, 3, 4]
        #expect(throws: ZarrError.self) { _ = try ChunkCodec.decode(Data(count: 500), metadata: bad) }
    }

    // MARK: hostile input

    /// A stored shard with its index entries (offset, nbytes pairs) changed and the crc made right again.
    static func withIndex(_ stored: Data, _ metadata: ArrayMetadata, _ change: (inout [UInt64]) -> Void) throws -> Data {
        let indexSize = try ShardIndex.byteCount(metadata: metadata)
        var entries = Data(stored.suffix(indexSize).dropLast(4)).withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        change(&entries)
        let table = entries.withUnsafeBytes { Data($0) }
        var out = Data(stored.prefix(stored.count - indexSize))
        out.append(table)
        withUnsafeBytes(of: CRC32C.checksum(table).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    @Test func hostileShardsThrowAndNeverCrash() throws {
        let metadata = Self.u16
        let values = Self.u16Shard(isFill: { $0[0] == 1 })
        let stored = try Self.encode(values, metadata)
        let dataSize = stored.count - (16 * 12 + 4)
        var damaged: [(String, Data)] = [
            ("empty", Data()),
            ("index only, truncated", stored.suffix(100)),
            ("truncated by one", stored.prefix(stored.count - 1)),
            ("one byte more", stored + Data([0])),
            ("first byte gone", stored.dropFirst()),
        ]
        var flipped = stored
        flipped[stored.count - 20] ^= 0x01
        damaged.append(("index bit flipped (crc)", flipped))
        var badCRC = stored
        badCRC[stored.count - 1] ^= 0x80
        damaged.append(("crc bit flipped", badCRC))
        damaged += [
            ("offset past the end", try Self.withIndex(stored, metadata) { $0[0] = UInt64(dataSize) }),
            ("range past the end", try Self.withIndex(stored, metadata) { $0[1] = UInt64(dataSize) }),
            ("nbytes overflow", try Self.withIndex(stored, metadata) { $0[1] = .max - 1 }),
            ("offset + nbytes overflow", try Self.withIndex(stored, metadata) { $0[0] = 8; $0[1] = .max - 4 }),
            ("offset overflow", try Self.withIndex(stored, metadata) { $0[0] = .max - 1 }),
            ("half absent", try Self.withIndex(stored, metadata) { $0[0] = .max }),
            ("half absent, other half", try Self.withIndex(stored, metadata) { $0[1] = .max }),
            ("nbytes zero", try Self.withIndex(stored, metadata) { $0[1] = 0 }),
            ("inner chunk one byte short", try Self.withIndex(stored, metadata) { $0[1] -= 1 }),
            ("inner chunk shifted", try Self.withIndex(stored, metadata) { $0[0] += 1; $0[1] -= 1 }),
            ("two inner chunks swapped for one", try Self.withIndex(stored, metadata) { $0[3] += $0[1]; $0[2] = 0 }),
        ]
        for (what, data) in damaged {
            #expect(throws: ZarrError.self, "\(what)") { _ = try ChunkCodec.decode(data, metadata: metadata) }
        }
        // Parsing the index on its own checks the same things (given the shard's size).
        #expect(throws: ZarrError.self) { _ = try ShardIndex(stored.suffix(16 * 12 + 3), metadata: metadata) }
        #expect(throws: ZarrError.self) { _ = try ShardIndex(badCRC.suffix(16 * 12 + 4), metadata: metadata) }
        let past = try Self.withIndex(stored, metadata) { $0[0] = UInt64(dataSize) }
        #expect(throws: ZarrError.self) { _ = try ShardIndex(past.suffix(16 * 12 + 4), metadata: metadata, shardByteCount: past.count) }
        #expect(throws: ZarrError.self) { _ = try ShardIndex(stored.suffix(16 * 12 + 4), metadata: metadata, shardByteCount: 10) }
        #expect(throws: ZarrError.self) { _ = try ShardIndex(stored.suffix(16 * 12 + 4), metadata: metadata, shardByteCount: .min) }
        let overflow = try Self.withIndex(stored, metadata) { $0[0] = 1 << 62; $0[1] = 1 << 62 }
        #expect(throws: ZarrError.self) { _ = try ShardIndex(overflow.suffix(16 * 12 + 4), metadata: metadata) }
    }

    @Test func flippedBytesInShardsNeverCrash() throws {
        for compression in CodecTests.compressions {
            var metadata = Self.f32
            metadata.compression = compression
            let values = Self.shard(metadata, fill: Float.nan, isFill: { $0[0] < 3 && $0[1] >= 5 }) { Float($0[0] * 10 + $0[1]) }
            let stored = try Self.encode(values, metadata)
            for position in 0..<stored.count {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    var copy = stored
                    copy[position] ^= mask
                    // Index damage fails the crc; chunk damage fails its decoder or (uncompressed,
                    // or in slack) decodes to a full-size shard. Never a trap.
                    if let decoded = try? ChunkCodec.decode(copy, metadata: metadata) { #expect(decoded.count == metadata.chunkByteCount) }
                }
            }
        }
    }

    // MARK: hierarchy

    @Test func hierarchyWritesAndReadsShards() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let store = LocalStore(root: folder.path, durable: false)
        let zarr = ZarrHierarchy(store: store, format: .v3)
        try zarr.createGroup()
        try zarr.createArray(path: "u16", metadata: Self.u16)
        #expect(try zarr.readArrayMetadata(path: "u16") == Self.u16)
        let values = Self.u16Shard(isFill: { $0[1] < 4 })
        try zarr.writeChunk(arrayPath: "u16", metadata: Self.u16, chunkIndex: [1, 2, 2], values: values)
        #expect(try store.exists("u16/c/1/2/2"))
        #expect(try zarr.readChunk(arrayPath: "u16", metadata: Self.u16, chunkIndex: [1, 2, 2], as: UInt16.self) == values)
        #expect(try zarr.readChunk(arrayPath: "u16", metadata: Self.u16, chunkIndex: [0, 0, 0]) == nil)
    }
}
