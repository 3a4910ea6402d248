import Foundation

/// The index at the end of a shard (v3 `sharding_indexed`, index_location "end"): for each inner
/// chunk, in C order over the shard's inner-chunk grid, the byte range of its encoded bytes, or
/// nothing when the chunk is entirely the fill value and was not stored.
///
/// Partial reads: fetch the last `ShardIndex.byteCount(metadata:)` bytes of a shard, parse them
/// here, then fetch `range(ofInner:)` and decode it with `ChunkCodec.decodeInner`. Every entry
/// is checked when parsing, so the ranges handed out are safe to slice with.
public struct ShardIndex: Sendable, Equatable {
    /// Inner chunks per shard along each dimension.
    public let gridShape: [Int]
    /// (offset, nbytes) pairs, one per inner chunk; both UInt64.max for an absent chunk.
    private let entries: [UInt64]

    /// Marks an absent inner chunk (2^64 - 1 in both fields).
    static let absent = UInt64.max

    /// Bytes of a sharded array's index: 16 per inner chunk, then the 4-byte crc32c.
    public static func byteCount(metadata: ArrayMetadata) throws -> Int {
        byteCount(innerCount: try innerGrid(metadata).reduce(1, *))
    }

    /// The inner-chunk grid of a sharded array, after checking the metadata (so the arithmetic
    /// on it cannot trap).
    static func innerGrid(_ metadata: ArrayMetadata) throws -> [Int] {
        guard metadata.innerChunks != nil else { throw ZarrError.invalidMetadata("the array is not sharded (no inner chunks)") }
        try metadata.validate()
        return metadata.innerChunkGridShape
    }

    static func byteCount(innerCount: Int) -> Int { 16 * innerCount + 4 }

    /// Parses exactly `ShardIndex.byteCount(metadata:)` bytes (the end of a shard) and checks
    /// their crc32c. With `shardByteCount` (the whole shard's size) every range must also lie in
    /// the shard's data part; without it, ranges only have to be representable.
    /// Throws `ZarrError.codec` on anything wrong; never traps.
    public init(_ indexBytes: Data, metadata: ArrayMetadata, shardByteCount: Int? = nil) throws {
        let grid = try Self.innerGrid(metadata)
        if let shardByteCount, shardByteCount < 0 { throw ZarrError.codec("negative shard size \(shardByteCount)") }
        let dataByteCount = shardByteCount.map { $0 - Self.byteCount(innerCount: grid.reduce(1, *)) }
        self = try indexBytes.withUnsafeBytes { try ShardIndex($0, gridShape: grid, dataByteCount: dataByteCount) }
    }

    /// `dataByteCount`: the bytes before the index, which every present range must lie in.
    init(_ bytes: UnsafeRawBufferPointer, gridShape: [Int], dataByteCount: Int?) throws {
        let innerCount = gridShape.reduce(1, *)
        let expected = Self.byteCount(innerCount: innerCount)
        guard bytes.count == expected, let base = bytes.baseAddress else {
            throw ZarrError.codec("shard index has \(bytes.count) bytes, \(innerCount) inner chunks need \(expected)")
        }
        if let dataByteCount, dataByteCount < 0 {
            throw ZarrError.codec("shard of \(dataByteCount + expected) bytes is shorter than its \(expected)-byte index")
        }
        let table = UnsafeRawBufferPointer(start: base, count: expected - 4)
        let stored = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: expected - 4, as: UInt32.self))
        let computed = CRC32C.checksum(table)
        guard stored == computed else {
            throw ZarrError.codec("shard index crc32c is \(hex(stored)), its bytes give \(hex(computed))")
        }
        let limit = UInt64(dataByteCount ?? Int.max)
        let entries = [UInt64](unsafeUninitializedCapacity: 2 * innerCount) { buffer, count in
            for slot in 0..<2 * innerCount {
                buffer[slot] = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * slot, as: UInt64.self))
            }
            count = 2 * innerCount
        }
        for inner in 0..<innerCount {
            let offset = entries[2 * inner], length = entries[2 * inner + 1]
            if offset == Self.absent && length == Self.absent { continue }
            // Overflow-free form of offset + length <= limit.
            guard length <= limit, offset <= limit - length else {
                throw ZarrError.codec("shard index: inner chunk \(inner) at offset \(offset), \(length) bytes, lies outside "
                    + (dataByteCount.map { "the shard's \($0) data bytes" } ?? "addressable memory"))
            }
        }
        self.gridShape = gridShape
        self.entries = entries
    }

    /// Builds an index from ranges (C order, nil for absent chunks) and encodes it.
    static func encode(_ ranges: [Range<Int>?], into output: inout Data) {
        var entries = [UInt64](repeating: absent, count: 2 * ranges.count)
        for (inner, range) in ranges.enumerated() {
            guard let range else { continue }
            entries[2 * inner] = UInt64(range.lowerBound).littleEndian
            entries[2 * inner + 1] = UInt64(range.count).littleEndian
        }
        entries.withUnsafeBytes { bytes in
            output.append(contentsOf: bytes)
            withUnsafeBytes(of: CRC32C.checksum(bytes).littleEndian) { output.append(contentsOf: $0) }
        }
    }

    /// Inner chunks in the shard (stored or not).
    public var innerCount: Int { entries.count / 2 }

    /// Byte range, within the shard, of inner chunk `ordinal` (C order over `gridShape`), or
    /// nil when it is absent (a reader then sees the fill value). `ordinal` must be below `innerCount`.
    public func range(ofInner ordinal: Int) -> Range<Int>? {
        precondition(ordinal >= 0 && ordinal < innerCount, "inner chunk \(ordinal) is outside a shard of \(innerCount)")
        let offset = entries[2 * ordinal], length = entries[2 * ordinal + 1]
        if offset == Self.absent && length == Self.absent { return nil }
        return Int(offset)..<Int(offset + length)  // checked by init
    }

    /// `range(ofInner:)` by grid position inside the shard (each coordinate below `gridShape`'s).
    public func range(ofInner position: [Int]) -> Range<Int>? {
        precondition(position.count == gridShape.count && zip(position, gridShape).allSatisfy { $0 >= 0 && $0 < $1 },
                     "inner chunk \(position) is outside the shard's grid \(gridShape)")
        return range(ofInner: zip(position, gridShape).reduce(0) { $0 * $1.1 + $1.0 })
    }
}

private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: true) }

/// Where the inner chunks of a shard lie in the decoded shard (C order), and the strided copies
/// between one inner chunk's block and a contiguous buffer.
struct ShardLayout {
    let gridShape: [Int]
    let innerShape: [Int]
    let innerCount: Int
    let innerByteCount: Int
    /// Byte strides of the decoded shard along each dimension.
    let shardStrides: [Int]
    /// The trailing dimensions where the inner chunk spans the whole shard merge with the last
    /// one into a single contiguous run; `rowDimensions` are the leading ones left to iterate.
    let rowDimensions: Int
    let rowByteCount: Int
    let rowCount: Int

    init(_ metadata: ArrayMetadata) throws {
        gridShape = try ShardIndex.innerGrid(metadata)
        let shard = metadata.chunks
        let inner = metadata.innerChunks ?? shard
        let rank = shard.count
        let elementSize = metadata.dataType.size
        innerShape = inner
        innerCount = gridShape.reduce(1, *)
        innerByteCount = metadata.innerChunkByteCount
        var strides = [Int](repeating: elementSize, count: rank)
        for dimension in stride(from: rank - 2, through: 0, by: -1) { strides[dimension] = strides[dimension + 1] * shard[dimension + 1] }
        shardStrides = strides
        var rowDimensions = rank, runElements = 1
        if rank > 0 {
            rowDimensions = rank - 1
            runElements = inner[rank - 1]
            while rowDimensions > 0 && inner[rowDimensions] == shard[rowDimensions] {
                rowDimensions -= 1
                runElements *= inner[rowDimensions]
            }
        }
        self.rowDimensions = rowDimensions
        rowByteCount = runElements * elementSize
        rowCount = inner[0..<rowDimensions].reduce(1, *)
    }

    /// An inner chunk's block is one contiguous run of the shard: no gather or scatter needed.
    var innerIsContiguous: Bool { rowCount == 1 }

    /// Byte offset in the decoded shard of the first element of inner chunk `ordinal`.
    func origin(ofInner ordinal: Int) -> Int {
        var rest = ordinal, offset = 0
        for dimension in stride(from: gridShape.count - 1, through: 0, by: -1) {
            offset += (rest % gridShape[dimension]) * innerShape[dimension] * shardStrides[dimension]
            rest /= gridShape[dimension]
        }
        return offset
    }

    /// Calls `body(shard offset, inner offset)` for each contiguous row of the inner chunk whose
    /// block starts at `origin`, in C order. Counters live on the stack.
    @inline(__always)
    private func forEachRow(origin: Int, _ body: (Int, Int) -> Void) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(rowDimensions, 1)) { counters in
            counters.initialize(repeating: 0)
            var offset = origin
            for row in 0..<rowCount {
                body(offset, row * rowByteCount)
                var dimension = rowDimensions - 1
                while dimension >= 0 {
                    counters[dimension] += 1
                    offset += shardStrides[dimension]
                    if counters[dimension] < innerShape[dimension] { break }
                    offset -= shardStrides[dimension] * innerShape[dimension]
                    counters[dimension] = 0
                    dimension -= 1
                }
            }
        }
    }

    /// Copies inner chunk `ordinal`'s block out of the decoded shard into `inner` (contiguous).
    func gather(_ ordinal: Int, from shard: UnsafeRawPointer, into inner: UnsafeMutableRawPointer) {
        forEachRow(origin: origin(ofInner: ordinal)) { shardOffset, innerOffset in
            (inner + innerOffset).copyMemory(from: shard + shardOffset, byteCount: rowByteCount)
        }
    }

    /// Copies a contiguous inner chunk into its block of the decoded shard.
    func scatter(_ ordinal: Int, from inner: UnsafeRawPointer, into shard: UnsafeMutableRawPointer) {
        forEachRow(origin: origin(ofInner: ordinal)) { shardOffset, innerOffset in
            (shard + shardOffset).copyMemory(from: inner + innerOffset, byteCount: rowByteCount)
        }
    }
}

/// `sharding_indexed` with index_location "end": the shard is the encoded inner chunks, then
/// the index and its crc32c.
enum ShardCodec {
    static func encode(_ shard: UnsafeRawBufferPointer, metadata: ArrayMetadata) throws -> Data {
        let layout = try ShardLayout(metadata)
        guard let source = shard.baseAddress else { throw ZarrError.codec("empty shard") }
        // One scratch buffer for the gathered inner chunk and one of the fill value to compare
        // it with, reused for every inner chunk.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.innerByteCount, alignment: 16)
        defer { scratch.deallocate() }
        let fill = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.innerByteCount, alignment: 16)
        defer { fill.deallocate() }
        fillWith(metadata.fillValue.bytes(for: metadata.dataType), fill)
        var output = Data()
        var ranges = [Range<Int>?](repeating: nil, count: layout.innerCount)
        for ordinal in 0..<layout.innerCount {
            let inner: UnsafeRawBufferPointer
            if layout.innerIsContiguous {
                inner = UnsafeRawBufferPointer(start: source + layout.origin(ofInner: ordinal), count: layout.innerByteCount)
            } else {
                layout.gather(ordinal, from: source, into: scratch.baseAddress!)
                inner = UnsafeRawBufferPointer(scratch)
            }
            // Byte equality, not value equality: a chunk of -0.0 or of another NaN payload than
            // the fill value's is stored, so decoding gives back exactly the bytes encoded.
            if memcmp(inner.baseAddress!, fill.baseAddress!, layout.innerByteCount) == 0 { continue }
            let encoded = try ChunkCodec.compress(inner, metadata: metadata)
            ranges[ordinal] = output.count..<(output.count + encoded.count)
            output.append(encoded)
        }
        ShardIndex.encode(ranges, into: &output)
        return output
    }

    static func decode(_ stored: UnsafeRawBufferPointer, metadata: ArrayMetadata, into destination: UnsafeMutableRawBufferPointer) throws {
        let layout = try ShardLayout(metadata)
        let indexByteCount = ShardIndex.byteCount(innerCount: layout.innerCount)
        guard stored.count >= indexByteCount, let base = stored.baseAddress, let target = destination.baseAddress else {
            throw ZarrError.codec("shard of \(stored.count) bytes is shorter than its \(indexByteCount)-byte index")
        }
        let dataByteCount = stored.count - indexByteCount
        let index = try ShardIndex(UnsafeRawBufferPointer(start: base + dataByteCount, count: indexByteCount),
                                   gridShape: layout.gridShape, dataByteCount: dataByteCount)
        let fillElement = metadata.fillValue.bytes(for: metadata.dataType)
        // Strided blocks decode into the scratch buffer first; contiguous ones go straight in.
        let scratch = layout.innerIsContiguous ? nil : UnsafeMutableRawBufferPointer.allocate(byteCount: layout.innerByteCount, alignment: 16)
        defer { scratch?.deallocate() }
        var filledScratch = false
        for ordinal in 0..<layout.innerCount {
            let range = index.range(ofInner: ordinal)
            if let scratch {
                if let range {
                    try decodeInner(UnsafeRawBufferPointer(rebasing: stored[range]), ordinal, metadata, into: scratch)
                    filledScratch = false
                } else if !filledScratch {
                    fillWith(fillElement, scratch)
                    filledScratch = true
                }
                layout.scatter(ordinal, from: scratch.baseAddress!, into: target)
            } else {
                let block = UnsafeMutableRawBufferPointer(start: target + layout.origin(ofInner: ordinal), count: layout.innerByteCount)
                if let range {
                    try decodeInner(UnsafeRawBufferPointer(rebasing: stored[range]), ordinal, metadata, into: block)
                } else {
                    fillWith(fillElement, block)
                }
            }
        }
    }

    private static func decodeInner(_ bytes: UnsafeRawBufferPointer, _ ordinal: Int, _ metadata: ArrayMetadata,
                                    into destination: UnsafeMutableRawBufferPointer) throws {
        do {
            try ChunkCodec.decompress(bytes, metadata: metadata, into: destination)
        } catch ZarrError.codec(let message) {
            throw ZarrError.codec("inner chunk \(ordinal): \(message)")
        }
    }

    /// Fills `buffer` with copies of `element` (doubling copies, so a few memcpy calls).
    static func fillWith(_ element: [UInt8], _ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        if element.allSatisfy({ $0 == 0 }) {
            base.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count)
            return
        }
        var filled = min(element.count, buffer.count)
        element.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: filled) }
        while filled < buffer.count {
            let step = min(filled, buffer.count - filled)
            (base + filled).copyMemory(from: base, byteCount: step)
            filled += step
        }
    }
}
