import Foundation
import JSON
import Testing
@testable import Zarr

@Suite struct MetadataTests {
    static let red = ArrayMetadata(
        shape: [2, 5, 7], chunks: [1, 3, 4], dataType: .uint16, fillValue: .zero,
        dimensionNames: ["time", "y", "x"], attributes: ["units": "1", "scale": 0.0001],
        compression: .bloscZstd(level: 5))

    @Test func v3ArrayDocumentIsExact() {
        #expect(Self.red.v3Document().serialized(pretty: false) == """
            {"attributes":{"scale":0.0001,"units":"1"},"chunk_grid":{"configuration":{"chunk_shape":[1,3,4]},"name":"regular"},\
            "chunk_key_encoding":{"configuration":{"separator":"/"},"name":"default"},\
            "codecs":[{"configuration":{"endian":"little"},"name":"bytes"},\
            {"configuration":{"blocksize":0,"clevel":5,"cname":"zstd","shuffle":"bitshuffle","typesize":2},"name":"blosc"}],\
            "data_type":"uint16","dimension_names":["time","y","x"],"fill_value":0,"node_type":"array","shape":[2,5,7],"zarr_format":3}
            """)
    }

    @Test func v3ZstdOneByteAndNaNFill() {
        let bytes = ArrayMetadata(shape: [5], chunks: [5], dataType: .uint8, compression: .zstd(level: 3)).v3Document()
        #expect(bytes["codecs"] == [["name": "bytes"], ["name": "zstd", "configuration": ["level": 3, "checksum": false]]])
        #expect(bytes["dimension_names"] == nil)
        let float = ArrayMetadata(shape: [], chunks: [], dataType: .float64, fillValue: .float(.nan), compression: .none).v3Document()
        #expect(float["fill_value"] == "NaN")
        #expect(float["shape"] == [])
        #expect(float["codecs"] == [["name": "bytes", "configuration": ["endian": "little"]]])
        let integral = ArrayMetadata(shape: [1], chunks: [1], dataType: .float32, fillValue: .integer(0)).v3Document()
        #expect(integral["fill_value"] == .double(0))
    }

    @Test func v2DocumentsAreExact() {
        let (zarray, zattrs) = Self.red.v2Documents()
        #expect(zarray.serialized(pretty: false) == """
            {"chunks":[1,3,4],"compressor":{"blocksize":0,"clevel":5,"cname":"zstd","id":"blosc","shuffle":2},\
            "dimension_separator":".","dtype":"<u2","fill_value":0,"filters":null,"order":"C","shape":[2,5,7],"zarr_format":2}
            """)
        #expect(zattrs == ["units": "1", "scale": 0.0001, "_ARRAY_DIMENSIONS": ["time", "y", "x"]])
        let zstd = ArrayMetadata(shape: [3], chunks: [2], dataType: .float32, fillValue: .float(.nan), compression: .zstd(level: 7)).v2Documents().zarray
        #expect(zstd["compressor"] == ["id": "zstd", "level": 7])
        #expect(zstd["dtype"] == "<f4")
        #expect(zstd["fill_value"] == "NaN")
        #expect(ArrayMetadata(shape: [3], chunks: [2], dataType: .uint8, compression: .none).v2Documents().zarray["compressor"] == .null)
    }

    @Test func typeStrings() {
        #expect(DataType.allCases.map(\.v2TypeString) == ["|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"])
        for type in DataType.allCases { #expect(DataType(v2TypeString: type.v2TypeString) == type) }
        #expect(DataType(v2TypeString: "<u1") == .uint8)
        #expect(DataType(v2TypeString: ">u2") == nil)
    }

    @Test func parsingRoundTripsBothFormats() throws {
        let arrays = [
            Self.red,
            ArrayMetadata(shape: [], chunks: [], dataType: .float64, fillValue: .float(.nan), compression: .zstd(level: 3)),
            ArrayMetadata(shape: [4, 4], chunks: [2, 2], dataType: .int64, fillValue: .integer(-1), compression: .none),
            ArrayMetadata(shape: [9], chunks: [4], dataType: .uint8, fillValue: .integer(255), compression: .bloscZstd(level: 1, shuffle: .shuffle)),
        ]
        for metadata in arrays {
            #expect(try ArrayMetadata(v3: JSONValue.parse(metadata.v3Document().data())) == metadata)
            let (zarray, zattrs) = metadata.v2Documents()
            #expect(try ArrayMetadata(v2: JSONValue.parse(zarray.data()), zattrs: JSONValue.parse(zattrs.data())) == metadata)
        }
    }

    @Test func parsingAcceptsZarrPythonExtras() throws {
        guard case var .object(document) = Self.red.v3Document() else { Issue.record("not an object"); return }
        document["storage_transformers"] = []
        #expect(try ArrayMetadata(v3: .object(document)) == Self.red)
        document["codecs"] = [["name": "transpose", "configuration": ["order": [2, 1, 0]]], ["name": "bytes"]]
        #expect(throws: ZarrError.self) { try ArrayMetadata(v3: .object(document)) }
    }

    @Test func validationNamesTheProblem() {
        let bad: [ArrayMetadata] = [
            ArrayMetadata(shape: [2, 2], chunks: [2], dataType: .uint8),
            ArrayMetadata(shape: [2], chunks: [0], dataType: .uint8),
            ArrayMetadata(shape: [-1], chunks: [1], dataType: .uint8),
            ArrayMetadata(shape: [2], chunks: [2], dataType: .uint8, dimensionNames: ["x", "y"]),
            ArrayMetadata(shape: [2], chunks: [2], dataType: .uint8, fillValue: .integer(256)),
            ArrayMetadata(shape: [2], chunks: [2], dataType: .uint16, fillValue: .float(0.5)),
            ArrayMetadata(shape: [2], chunks: [2], dataType: .uint16, compression: .bloscZstd(level: 10)),
            ArrayMetadata(shape: [1 << 20, 1 << 20], chunks: [1 << 20, 1 << 20], dataType: .uint16),
        ]
        for metadata in bad { #expect(throws: ZarrError.self) { try metadata.validate() } }
    }

    @Test func gridAndFill() {
        #expect(Self.red.chunkGridShape == [2, 2, 2])
        #expect(Self.red.chunkByteCount == 24)
        let scalar = ArrayMetadata(shape: [], chunks: [], dataType: .int32, fillValue: .integer(-2))
        #expect(scalar.chunkGridShape == [])
        #expect(scalar.chunkElementCount == 1)
        #expect(scalar.filledChunk() == [0xFE, 0xFF, 0xFF, 0xFF])
        let floats = ArrayMetadata(shape: [2], chunks: [2], dataType: .float32, fillValue: .float(.nan))
        let values = floats.filledChunk().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(values.count == 2 && values.allSatisfy(\.isNaN))
    }

    @Test func chunkKeys() throws {
        #expect(ChunkKey.key(format: .v3, arrayPath: "red", chunkIndex: [0, 1, 2]) == "red/c/0/1/2")
        #expect(ChunkKey.key(format: .v2, arrayPath: "red", chunkIndex: [0, 1, 2]) == "red/0.1.2")
        #expect(ChunkKey.key(format: .v3, arrayPath: "a/b", chunkIndex: []) == "a/b/c")
        #expect(ChunkKey.key(format: .v2, arrayPath: "a/b", chunkIndex: []) == "a/b/0")
        #expect(ChunkKey.key(format: .v3, arrayPath: "", chunkIndex: [3]) == "c/3")
        #expect(try ChunkKey.key(format: .v3, arrayPath: "red", metadata: Self.red, chunkIndex: [1, 1, 1]) == "red/c/1/1/1")
        for index in [[2, 0, 0], [0, 0], [0, -1, 0], [0, 0, 0, 0]] {
            #expect(throws: ZarrError.self) { try ChunkKey.key(format: .v3, arrayPath: "red", metadata: Self.red, chunkIndex: index) }
        }
    }
}
