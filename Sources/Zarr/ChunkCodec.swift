import Foundation

/// The codec pipeline of one array: little-endian `bytes` serialisation (the caller's buffer
/// already is that on little-endian hosts), then the array's compression.
public enum ChunkCodec {
    /// Encodes one full decoded chunk (`metadata.chunkByteCount` bytes, C order, little-endian).
    public static func encode(_ chunk: UnsafeRawBufferPointer, metadata: ArrayMetadata) throws -> Data {
        guard chunk.count == metadata.chunkByteCount else {
            throw ZarrError.codec("chunk has \(chunk.count) bytes, the array's chunks \(metadata.chunks) of \(metadata.dataType.rawValue) need \(metadata.chunkByteCount)")
        }
        switch metadata.compression {
        case let .bloscZstd(level, shuffle):
            return try BloscCodec.encode(chunk, level: level, shuffle: shuffle, typeSize: metadata.dataType.size)
        case let .zstd(level):
            return try ZstdCodec.encode(chunk, level: level)
        case .none:
            return Data(chunk)
        }
    }

    /// Decodes a stored chunk into `destination` (exactly `metadata.chunkByteCount` bytes).
    /// Throws `ZarrError.codec` on corrupt, truncated or wrongly sized input; never traps.
    public static func decode(_ stored: Data, metadata: ArrayMetadata, into destination: UnsafeMutableRawBufferPointer) throws {
        guard destination.count == metadata.chunkByteCount else {
            throw ZarrError.codec("destination has \(destination.count) bytes, a chunk needs \(metadata.chunkByteCount)")
        }
        switch metadata.compression {
        case .bloscZstd:
            try BloscCodec.decode(stored, into: destination)
        case .zstd:
            try ZstdCodec.decode(stored, into: destination)
        case .none:
            guard stored.count == destination.count else {
                throw ZarrError.codec("uncompressed chunk has \(stored.count) bytes, expected \(destination.count)")
            }
            if let base = destination.baseAddress { stored.copyBytes(to: base.assumingMemoryBound(to: UInt8.self), count: stored.count) }
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

    static func checkType<T: ZarrScalar>(_ type: T.Type, _ metadata: ArrayMetadata) throws {
        guard T.zarrDataType == metadata.dataType else {
            throw ZarrError.codec("\(T.self) values for a \(metadata.dataType.rawValue) array")
        }
    }
}

#if _endian(big)
#error("Zarr chunks are written as little-endian bytes; big-endian hosts need a byte swap here")
#endif
