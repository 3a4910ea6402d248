import Foundation

/// The codec pipeline of one array: little-endian `bytes` serialisation (the caller's buffer
/// already is that on little-endian hosts), then the array's compression. A sharded array
/// (`innerChunks` set) runs that pipeline on each inner chunk inside `sharding_indexed`.
public enum ChunkCodec {
    /// Encodes one full decoded chunk (`metadata.chunkByteCount` bytes, C order, little-endian).
    /// For a sharded array that is the whole shard; inner chunks entirely of the fill value are
    /// left out of it, as zarr-python does.
    public static func encode(_ chunk: UnsafeRawBufferPointer, metadata: ArrayMetadata) throws -> Data {
        guard chunk.count == metadata.chunkByteCount else {
            throw ZarrError.codec("chunk has \(chunk.count) bytes, the array's chunks \(metadata.chunks) of \(metadata.dataType.rawValue) need \(metadata.chunkByteCount)")
        }
        if metadata.innerChunks != nil { return try ShardCodec.encode(chunk, metadata: metadata) }
        return try compress(chunk, metadata: metadata)
    }

    /// Decodes a stored chunk (a whole shard, for a sharded array) into `destination`
    /// (exactly `metadata.chunkByteCount` bytes); absent inner chunks read as the fill value.
    /// Throws `ZarrError.codec` on corrupt, truncated or wrongly sized input; never traps.
    public static func decode(_ stored: Data, metadata: ArrayMetadata, into destination: UnsafeMutableRawBufferPointer) throws {
        guard destination.count == metadata.chunkByteCount else {
            throw ZarrError.codec("destination has \(destination.count) bytes, a chunk needs \(metadata.chunkByteCount)")
        }
        try stored.withUnsafeBytes { source in
            if metadata.innerChunks != nil {
                try ShardCodec.decode(source, metadata: metadata, into: destination)
            } else {
                try decompress(source, metadata: metadata, into: destination)
            }
        }
    }

    /// Decodes a stored chunk into a new byte array.
    public static func decode(_ stored: Data, metadata: ArrayMetadata) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: metadata.chunkByteCount) { buffer, count in
            try decode(stored, metadata: metadata, into: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
    }

    /// Decodes a stored chunk into a new typed array; `T` must match the array's data type.
    public static func decode<T: ZarrScalar>(_ stored: Data, metadata: ArrayMetadata, as type: T.Type) throws -> [T] {
        try checkType(T.self, metadata)
        return try [T](unsafeUninitializedCapacity: metadata.chunkElementCount) { buffer, count in
            try decode(stored, metadata: metadata, into: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
    }

    /// Decodes one inner chunk's stored bytes (a `ShardIndex.range(ofInner:)` of the shard) into
    /// `destination`: exactly `metadata.innerChunkByteCount` bytes, the inner chunk in C order.
    /// For partial reads; throws `ZarrError.codec` on bad input, never traps.
    public static func decodeInner(_ stored: Data, metadata: ArrayMetadata, into destination: UnsafeMutableRawBufferPointer) throws {
        guard destination.count == metadata.innerChunkByteCount else {
            throw ZarrError.codec("destination has \(destination.count) bytes, an inner chunk needs \(metadata.innerChunkByteCount)")
        }
        try stored.withUnsafeBytes { try decompress($0, metadata: metadata, into: destination) }
    }

    /// Decodes one inner chunk into a new byte array.
    public static func decodeInner(_ stored: Data, metadata: ArrayMetadata) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: metadata.innerChunkByteCount) { buffer, count in
            try decodeInner(stored, metadata: metadata, into: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
    }

    /// The array's compression applied to one (inner) chunk.
    static func compress(_ chunk: UnsafeRawBufferPointer, metadata: ArrayMetadata) throws -> Data {
        switch metadata.compression {
        case let .bloscZstd(level, shuffle):
            return try BloscCodec.encode(chunk, level: level, shuffle: shuffle, typeSize: metadata.dataType.size)
        case let .zstd(level):
            return try ZstdCodec.encode(chunk, level: level)
        case .none:
            return Data(chunk)
        }
    }

    /// Undoes `compress` into `destination`, which must be exactly the decoded size.
    static func decompress(_ stored: UnsafeRawBufferPointer, metadata: ArrayMetadata, into destination: UnsafeMutableRawBufferPointer) throws {
        switch metadata.compression {
        case .bloscZstd:
            try BloscCodec.decode(stored, into: destination)
        case .zstd:
            try ZstdCodec.decode(stored, into: destination)
        case .none:
            guard stored.count == destination.count else {
                throw ZarrError.codec("uncompressed chunk has \(stored.count) bytes, expected \(destination.count)")
            }
            if let base = destination.baseAddress, let source = stored.baseAddress { base.copyMemory(from: source, byteCount: stored.count) }
        }
    }

    static func checkType<T: ZarrScalar>(_ type: T.Type, _ metadata: ArrayMetadata) throws {
        guard T.zarrDataType == metadata.dataType else {
            throw ZarrError.codec("\(T.self) values for a \(metadata.dataType.rawValue) array")
        }
    }
}

#if _endian(big)
#error("Zarr chunks are written as little-endian bytes; big-endian hosts need a byte swap here")
#endif
