import JSON
/// Everything that defines a Zarr array, independent of the on-disk format.
/// `v3Document()` and `v2Documents()` render it; `ArrayMetadata(v3:)` / `(v2:zattrs:)` parse it.
public struct ArrayMetadata: Sendable, Equatable {
    public var shape: [Int]
    /// Chunk shape, same rank as `shape`; edge chunks are stored full size.
    public var chunks: [Int]
    public var dataType: DataType
    public var fillValue: FillValue
    /// Names of the dimensions (v3 `dimension_names`, v2 `_ARRAY_DIMENSIONS` attribute).
    public var dimensionNames: [String]?
    public var attributes: [String: JSONValue]
    /// Compression of each chunk, or of each inner chunk when the array is sharded.
    public var compression: Compression
    /// Inner chunk shape of a sharded array (v3 `sharding_indexed`), nil for plain chunks.
    /// When set, `chunks` is the shard shape: each stored object holds `innerChunkGridShape`
    /// inner chunks, each compressed on its own, so readers can fetch just the part they need.
    public var innerChunks: [Int]?

    public init(shape: [Int], chunks: [Int], dataType: DataType, fillValue: FillValue = .zero,
                dimensionNames: [String]? = nil, attributes: [String: JSONValue] = [:],
                compression: Compression = .standard, innerChunks: [Int]? = nil) {
        self.shape = shape
        self.chunks = chunks
        self.dataType = dataType
        self.fillValue = fillValue
        self.dimensionNames = dimensionNames
        self.attributes = attributes
        self.compression = compression
        self.innerChunks = innerChunks
    }

    /// The v2 attribute that carries dimension names (xarray's convention).
    public static let v2DimensionsAttribute = "_ARRAY_DIMENSIONS"

    /// Throws `ZarrError.invalidMetadata` naming the first inconsistency.
    public func validate() throws {
        func invalid(_ message: String) -> ZarrError { .invalidMetadata(message) }
        guard shape.count == chunks.count else { throw invalid("shape \(shape) and chunks \(chunks) differ in rank") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw invalid("shape \(shape) has a negative extent") }
        guard chunks.allSatisfy({ $0 >= 1 }) else { throw invalid("chunks \(chunks) must all be at least 1") }
        if let names = dimensionNames, names.count != shape.count {
            throw invalid("\(names.count) dimension names for a \(shape.count)-d array")
        }
        if let inner = innerChunks {
            guard inner.count == chunks.count else { throw invalid("inner chunks \(inner) and chunks \(chunks) differ in rank") }
            guard inner.allSatisfy({ $0 >= 1 }) else { throw invalid("inner chunks \(inner) must all be at least 1") }
            guard zip(chunks, inner).allSatisfy({ $0 % $1 == 0 }) else {
                throw invalid("inner chunks \(inner) do not divide the shard shape \(chunks)")
            }
            // The decoded shard and its index (16 bytes per inner chunk) must be addressable.
            guard let shardElements = Self.product(chunks), !shardElements.multipliedReportingOverflow(by: 32).overflow else {
                throw invalid("shard \(chunks) is too large")
            }
        }
        // The 2 GiB limit is the compressors' (blosc counts in Int32); with sharding it applies to
        // the inner chunks, and the shard only has to fit in memory.
        let compressed = innerChunks ?? chunks
        guard let elements = Self.product(compressed), elements <= (Int(Int32.max) - 16) / dataType.size else {
            throw invalid("\(innerChunks == nil ? "chunks" : "inner chunks") \(compressed) exceed 2 GiB per chunk")
        }
        switch compression {
        case let .bloscZstd(level, _): guard (0...9).contains(level) else { throw invalid("blosc level \(level) is outside 0...9") }
        case let .zstd(level): guard (-131072...22).contains(level) else { throw invalid("zstd level \(level) is outside -131072...22") }
        case .none: break
        }
        try fillValue.validate(for: dataType)
    }

    /// `validate()`, plus what the format can express: v2 has no sharding.
    public func validate(format: ZarrFormat) throws {
        try validate()
        if format == .v2, let inner = innerChunks {
            throw ZarrError.invalidMetadata("inner chunks \(inner) (sharding) need Zarr v3; v2 cannot store them")
        }
    }

    /// The product of `extents`, or nil on overflow.
    private static func product(_ extents: [Int]) -> Int? {
        var result = 1
        for extent in extents {
            let (next, overflow) = result.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// Elements in one (full-size) chunk; 1 for a 0-d array.
    public var chunkElementCount: Int { chunks.reduce(1, *) }

    /// Bytes of one decoded chunk.
    public var chunkByteCount: Int { chunkElementCount * dataType.size }

    /// Chunks along each dimension: ceil(shape / chunks).
    public var chunkGridShape: [Int] {
        zip(shape, chunks).map { extent, chunk in (extent + chunk - 1) / chunk }
    }

    /// Inner chunks per shard along each dimension (all 1 without sharding: the chunk is its
    /// own single inner chunk).
    public var innerChunkGridShape: [Int] {
        guard let inner = innerChunks else { return chunks.map { _ in 1 } }
        return zip(chunks, inner).map { $0 / $1 }
    }

    /// Bytes of one decoded inner chunk (`chunkByteCount` without sharding).
    public var innerChunkByteCount: Int { (innerChunks ?? chunks).reduce(1, *) * dataType.size }

    /// A decoded chunk holding only the fill value (what a reader sees for a missing chunk).
    public func filledChunk() -> [UInt8] {
        let element = fillValue.bytes(for: dataType)
        if element.allSatisfy({ $0 == 0 }) { return [UInt8](repeating: 0, count: chunkByteCount) }
        var out = [UInt8]()
        out.reserveCapacity(chunkByteCount)
        for _ in 0..<chunkElementCount { out.append(contentsOf: element) }
        return out
    }

    // MARK: v3

    /// The array's v3 `zarr.json` document.
    public func v3Document() -> JSONValue {
        var codecs = chunkCodecs()
        if let inner = innerChunks {
            codecs = [["name": "sharding_indexed", "configuration": [
                "chunk_shape": .ints(inner),
                "codecs": .array(codecs),
                "index_codecs": Self.shardIndexCodecs,
                "index_location": "end",
            ]]]
        }
        var document: [String: JSONValue] = [
            "zarr_format": 3,
            "node_type": "array",
            "shape": .ints(shape),
            "data_type": .string(dataType.rawValue),
            "chunk_grid": ["name": "regular", "configuration": ["chunk_shape": .ints(chunks)]],
            "chunk_key_encoding": ["name": "default", "configuration": ["separator": "/"]],
            "fill_value": fillValue.json(for: dataType),
            "codecs": .array(codecs),
            "attributes": .object(attributes),
        ]
        if let names = dimensionNames { document["dimension_names"] = .strings(names) }
        return .object(document)
    }

    /// The shard index's codecs: the only ones written and read (zarr-python's default).
    static let shardIndexCodecs: JSONValue = [["name": "bytes", "configuration": ["endian": "little"]], ["name": "crc32c"]]

    /// The v3 codec chain of one (inner) chunk: `bytes`, then the compression.
    private func chunkCodecs() -> [JSONValue] {
        var bytesCodec: [String: JSONValue] = ["name": "bytes"]
        if dataType.size > 1 { bytesCodec["configuration"] = ["endian": "little"] }
        var codecs: [JSONValue] = [.object(bytesCodec)]
        switch compression {
        case let .bloscZstd(level, shuffle):
            codecs.append(["name": "blosc", "configuration": [
                "cname": "zstd", "clevel": .int(Int64(level)), "shuffle": .string(shuffle.v3Name),
                "typesize": .int(Int64(dataType.size)), "blocksize": 0,
            ]])
        case let .zstd(level):
            codecs.append(["name": "zstd", "configuration": ["level": .int(Int64(level)), "checksum": false]])
        case .none:
            break
        }
        return codecs
    }

    // MARK: v2

    /// The array's v2 `.zarray` and `.zattrs` documents. v2 cannot express `innerChunks`:
    /// `validate(format: .v2)` (which `ZarrHierarchy.createArray` calls) refuses sharded arrays.
    public func v2Documents() -> (zarray: JSONValue, zattrs: JSONValue) {
        let compressor: JSONValue
        switch compression {
        case let .bloscZstd(level, shuffle):
            compressor = ["id": "blosc", "cname": "zstd", "clevel": .int(Int64(level)),
                          "shuffle": .int(Int64(shuffle.rawValue)), "blocksize": 0]
        case let .zstd(level):
            compressor = ["id": "zstd", "level": .int(Int64(level))]
        case .none:
            compressor = .null
        }
        let zarray: JSONValue = [
            "zarr_format": 2,
            "shape": .ints(shape),
            "chunks": .ints(chunks),
            "dtype": .string(dataType.v2TypeString),
            "compressor": compressor,
            "fill_value": fillValue.json(for: dataType),
            "order": "C",
            "filters": .null,
            "dimension_separator": ".",
        ]
        var zattrs = attributes
        // xarray refuses v2 arrays without _ARRAY_DIMENSIONS, so a 0-d array gets [].
        if let names = dimensionNames ?? (shape.isEmpty ? [] : nil) {
            zattrs[Self.v2DimensionsAttribute] = .strings(names)
        }
        return (zarray, .object(zattrs))
    }
}
