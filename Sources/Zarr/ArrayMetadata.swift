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
    public var compression: Compression

    public init(shape: [Int], chunks: [Int], dataType: DataType, fillValue: FillValue = .zero,
                dimensionNames: [String]? = nil, attributes: [String: JSONValue] = [:],
                compression: Compression = .standard) {
        self.shape = shape
        self.chunks = chunks
        self.dataType = dataType
        self.fillValue = fillValue
        self.dimensionNames = dimensionNames
        self.attributes = attributes
        self.compression = compression
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
        var elements = 1
        for extent in chunks {
            let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= (Int(Int32.max) - 16) / dataType.size else { throw invalid("chunks \(chunks) exceed 2 GiB per chunk") }
            elements = product
        }
        switch compression {
        case let .bloscZstd(level, _): guard (0...9).contains(level) else { throw invalid("blosc level \(level) is outside 0...9") }
        case let .zstd(level): guard (-131072...22).contains(level) else { throw invalid("zstd level \(level) is outside -131072...22") }
        case .none: break
        }
        try fillValue.validate(for: dataType)
    }

    /// Elements in one (full-size) chunk; 1 for a 0-d array.
    public var chunkElementCount: Int { chunks.reduce(1, *) }

    /// Bytes of one decoded chunk.
    public var chunkByteCount: Int { chunkElementCount * dataType.size }

    /// Chunks along each dimension: ceil(shape / chunks).
    public var chunkGridShape: [Int] {
        zip(shape, chunks).map { extent, chunk in (extent + chunk - 1) / chunk }
    }

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

    // MARK: v2

    /// The array's v2 `.zarray` and `.zattrs` documents.
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
            "filters": nil,
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
