import JSON
/// Reading array metadata back, for both formats. Accepts what this module writes and the
/// equivalent documents zarr-python writes (e.g. extra "storage_transformers": []), and
/// rejects anything whose chunks this module could not decode.
extension ArrayMetadata {
    /// Parses a v3 array `zarr.json` document.
    public init(v3 document: JSONValue) throws {
        func field(_ name: String) throws -> JSONValue {
            guard let value = document[name] else { throw ZarrError.invalidMetadata("zarr.json has no \"\(name)\"") }
            return value
        }
        guard try field("zarr_format").intValue == 3 else { throw ZarrError.invalidMetadata("zarr_format is not 3") }
        guard try field("node_type") == "array" else { throw ZarrError.invalidMetadata("node_type is not \"array\"") }
        guard let typeName = try field("data_type").stringValue, let dataType = DataType(rawValue: typeName) else {
            throw ZarrError.unsupported("data_type \(try field("data_type").serialized(pretty: false))")
        }
        let grid = try field("chunk_grid")
        guard grid["name"] == "regular", let chunkShape = grid["configuration"]?["chunk_shape"] else {
            throw ZarrError.unsupported("chunk_grid \(grid.serialized(pretty: false))")
        }
        let keys = try field("chunk_key_encoding")
        let separator = keys["configuration"]?["separator"] ?? "/"
        guard keys["name"] == "default", separator == "/" else {
            throw ZarrError.unsupported("chunk_key_encoding \(keys.serialized(pretty: false))")
        }
        if let transformers = document["storage_transformers"], transformers != .array([]) {
            throw ZarrError.unsupported("storage_transformers \(transformers.serialized(pretty: false))")
        }
        guard let codecs = try field("codecs").arrayValue else { throw ZarrError.invalidMetadata("codecs is not a list") }
        let (compression, innerChunks) = try Self.parseV3ArrayCodecs(codecs, dataType: dataType)
        let names: [String]?
        if let list = document["dimension_names"], list != .null {
            guard let items = list.arrayValue else { throw ZarrError.invalidMetadata("dimension_names is not a list") }
            // Unnamed dimensions (null) are allowed by the spec but not by this model.
            let strings = items.compactMap(\.stringValue)
            guard strings.count == items.count else { throw ZarrError.unsupported("unnamed dimensions in \(list.serialized(pretty: false))") }
            names = strings
        } else {
            names = nil
        }
        self.init(shape: try Self.parseInts(try field("shape"), "shape"),
                  chunks: try Self.parseInts(chunkShape, "chunk_shape"),
                  dataType: dataType,
                  fillValue: try FillValue.parse(try field("fill_value"), for: dataType),
                  dimensionNames: names,
                  attributes: document["attributes"]?.objectValue ?? [:],
                  compression: compression,
                  innerChunks: innerChunks)
        try validate()
    }

    /// Parses v2 `.zarray` and (optional) `.zattrs` documents.
    public init(v2 zarray: JSONValue, zattrs: JSONValue?) throws {
        func field(_ name: String) throws -> JSONValue {
            guard let value = zarray[name] else { throw ZarrError.invalidMetadata(".zarray has no \"\(name)\"") }
            return value
        }
        guard try field("zarr_format").intValue == 2 else { throw ZarrError.invalidMetadata("zarr_format is not 2") }
        guard let typeString = try field("dtype").stringValue, let dataType = DataType(v2TypeString: typeString) else {
            throw ZarrError.unsupported("dtype \(try field("dtype").serialized(pretty: false))")
        }
        guard (zarray["order"] ?? "C") == "C" else { throw ZarrError.unsupported("order other than \"C\"") }
        let filters = zarray["filters"] ?? .null
        guard filters == .null || filters == .array([]) else { throw ZarrError.unsupported("filters \(filters.serialized(pretty: false))") }
        guard (zarray["dimension_separator"] ?? ".") == "." else { throw ZarrError.unsupported("dimension_separator other than \".\"") }
        var attributes = zattrs?.objectValue ?? [:]
        var names: [String]?
        if let list = attributes.removeValue(forKey: Self.v2DimensionsAttribute) {
            let strings = list.arrayValue?.compactMap(\.stringValue)
            guard let strings, strings.count == list.arrayValue?.count else {
                throw ZarrError.invalidMetadata("\(Self.v2DimensionsAttribute) is not a list of strings")
            }
            // A 0-d array's [] is what v2Documents writes for "no names".
            names = strings.isEmpty ? nil : strings
        }
        self.init(shape: try Self.parseInts(try field("shape"), "shape"),
                  chunks: try Self.parseInts(try field("chunks"), "chunks"),
                  dataType: dataType,
                  fillValue: try FillValue.parse(zarray["fill_value"] ?? .null, for: dataType),
                  dimensionNames: names,
                  attributes: attributes,
                  compression: try Self.parseV2Compressor(zarray["compressor"] ?? .null))
        try validate()
    }

    private static func parseInts(_ json: JSONValue, _ name: String) throws -> [Int] {
        guard let items = json.arrayValue else { throw ZarrError.invalidMetadata("\(name) is not a list") }
        return try items.map { item in
            guard case let .int(value) = item, let extent = Int(exactly: value) else {
                throw ZarrError.invalidMetadata("\(name) \(json.serialized(pretty: false)) is not a list of integers")
            }
            return extent
        }
    }

    /// The array's codec chain: either plain chunk codecs, or a single `sharding_indexed` whose
    /// inner codecs are plain chunk codecs and whose index is what zarr-python writes by default.
    private static func parseV3ArrayCodecs(_ codecs: [JSONValue], dataType: DataType) throws -> (Compression, innerChunks: [Int]?) {
        guard codecs.first?["name"] == "sharding_indexed" else { return (try parseV3Codecs(codecs, dataType: dataType), nil) }
        func unsupported(_ what: String) -> ZarrError { .unsupported("\(what) in \(JSONValue.array(codecs).serialized(pretty: false))") }
        guard codecs.count == 1 else { throw unsupported("codecs after sharding_indexed") }
        guard let configuration = codecs[0]["configuration"] else {
            throw ZarrError.invalidMetadata("sharding_indexed has no configuration")
        }
        guard let chunkShape = configuration["chunk_shape"] else { throw ZarrError.invalidMetadata("sharding_indexed has no chunk_shape") }
        let inner = try parseInts(chunkShape, "sharding_indexed chunk_shape")
        // The spec's default location is "end"; "start" would move every offset and is not written here.
        guard (configuration["index_location"] ?? "end") == "end" else { throw unsupported("index_location") }
        guard let indexCodecs = configuration["index_codecs"]?.arrayValue, indexCodecs.count == 2,
              indexCodecs[0] == shardIndexCodecs.arrayValue?[0], indexCodecs[1]["name"] == "crc32c",
              (indexCodecs[1]["configuration"] ?? [:]) == [:]
        else { throw unsupported("index_codecs other than [bytes little-endian, crc32c]") }
        guard let innerCodecs = configuration["codecs"]?.arrayValue else {
            throw ZarrError.invalidMetadata("sharding_indexed codecs is not a list")
        }
        return (try parseV3Codecs(innerCodecs, dataType: dataType), inner)
    }

    private static func parseV3Codecs(_ codecs: [JSONValue], dataType: DataType) throws -> Compression {
        func unsupported() -> ZarrError { .unsupported("codecs \(JSONValue.array(codecs).serialized(pretty: false))") }
        guard let first = codecs.first, first["name"] == "bytes" else { throw unsupported() }
        let endian = first["configuration"]?["endian"]
        guard endian == nil || endian == "little" || (dataType.size == 1 && endian == "big") else { throw unsupported() }
        switch codecs.count {
        case 1:
            return .none
        case 2:
            let codec = codecs[1]
            let configuration = codec["configuration"]
            if codec["name"] == "blosc" {
                guard configuration?["cname"] == "zstd",
                      let level = configuration?["clevel"]?.intValue,
                      let shuffle = configuration?["shuffle"]?.stringValue.flatMap(BloscShuffle.init(v3Name:))
                else { throw unsupported() }
                return .bloscZstd(level: Int(level), shuffle: shuffle)
            }
            if codec["name"] == "zstd" {
                guard let level = configuration?["level"]?.intValue else { throw unsupported() }
                return .zstd(level: Int(level))
            }
            throw unsupported()
        default:
            throw unsupported()
        }
    }

    private static func parseV2Compressor(_ compressor: JSONValue) throws -> Compression {
        func unsupported() -> ZarrError { .unsupported("compressor \(compressor.serialized(pretty: false))") }
        if compressor == .null { return .none }
        if compressor["id"] == "blosc" {
            guard compressor["cname"] == "zstd", let level = compressor["clevel"]?.intValue,
                  let raw = compressor["shuffle"]?.intValue, let shuffle = BloscShuffle(rawValue: Int(raw))
            else { throw unsupported() }
            return .bloscZstd(level: Int(level), shuffle: shuffle)
        }
        if compressor["id"] == "zstd", let level = compressor["level"]?.intValue {
            return .zstd(level: Int(level))
        }
        throw unsupported()
    }
}
