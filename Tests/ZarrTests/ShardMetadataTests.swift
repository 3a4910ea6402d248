import CubeStore
import Foundation
import JSON
import Testing
@testable import Zarr

/// Sharded array metadata: the v3 document, parsing it back, and what is refused.
@Suite struct ShardMetadataTests {
    static let u16 = ArrayMetadata(shape: [3, 20, 30], chunks: [2, 8, 12], dataType: .uint16, fillValue: .integer(7),
                                   dimensionNames: ["t", "y", "x"], compression: .bloscZstd(level: 5), innerChunks: [1, 4, 4])
    static let f32 = ArrayMetadata(shape: [9, 10], chunks: [6, 10], dataType: .float32, fillValue: .float(.nan),
                                   compression: .zstd(level: 3), innerChunks: [3, 5])

    @Test func v3DocumentNestsTheCodecsInSharding() throws {
        let document = Self.u16.v3Document()
        #expect(document["chunk_grid"] == ["name": "regular", "configuration": ["chunk_shape": [2, 8, 12]]])
        #expect(document["codecs"] == [["name": "sharding_indexed", "configuration": [
            "chunk_shape": [1, 4, 4],
            "codecs": [["name": "bytes", "configuration": ["endian": "little"]],
                       ["name": "blosc", "configuration": ["cname": "zstd", "clevel": 5, "shuffle": "bitshuffle", "typesize": 2, "blocksize": 0]]],
            "index_codecs": [["name": "bytes", "configuration": ["endian": "little"]], ["name": "crc32c"]],
            "index_location": "end",
        ]]])
        // Without inner chunks the document is today's, byte for byte.
        var plain = Self.u16
        plain.innerChunks = nil
        #expect(!plain.v3Document().serialized(pretty: false).contains("sharding"))
        #expect(plain.v3Document()["codecs"]?.arrayValue?.count == 2)
    }

    @Test func metadataRoundTrips() throws {
        let arrays = [
            Self.u16, Self.f32,
            ArrayMetadata(shape: [5], chunks: [4], dataType: .uint8, compression: .none, innerChunks: [1]),
            ArrayMetadata(shape: [], chunks: [], dataType: .int64, fillValue: .integer(-1), innerChunks: []),
        ]
        for metadata in arrays {
            try metadata.validate(format: .v3)
            #expect(try ArrayMetadata(v3: JSONValue.parse(metadata.v3Document().data())) == metadata)
        }
        // zarr-python spells crc32c without a configuration, tensorstore may add an empty one, and
        // a missing index_location means "end".
        guard case var .object(document) = Self.u16.v3Document(),
              case var .object(sharding) = document["codecs"]?.arrayValue?.first,
              case var .object(configuration) = sharding["configuration"] else { Issue.record("not objects"); return }
        configuration["index_codecs"] = [["name": "bytes", "configuration": ["endian": "little"]], ["name": "crc32c", "configuration": [:]]]
        configuration["index_location"] = nil
        sharding["configuration"] = .object(configuration)
        document["codecs"] = [.object(sharding)]
        #expect(try ArrayMetadata(v3: .object(document)) == Self.u16)
    }

    @Test func unsupportedShardingIsRefused() throws {
        func variant(_ change: (inout [String: JSONValue], inout [JSONValue]) -> Void) -> JSONValue {
            guard case var .object(document) = Self.u16.v3Document(),
                  case var .object(sharding) = document["codecs"]?.arrayValue?.first,
                  case var .object(configuration) = sharding["configuration"] else { return .null }
            var codecs: [JSONValue] = []
            change(&configuration, &codecs)
            sharding["configuration"] = .object(configuration)
            document["codecs"] = .array([.object(sharding)] + codecs)
            return .object(document)
        }
        let unsupported: [JSONValue] = [
            variant { configuration, _ in configuration["index_location"] = "start" },
            variant { configuration, _ in configuration["index_codecs"] = [["name": "bytes", "configuration": ["endian": "little"]]] },
            variant { configuration, _ in configuration["index_codecs"] = [["name": "bytes", "configuration": ["endian": "big"]], ["name": "crc32c"]] },
            variant { configuration, _ in configuration["codecs"] = [["name": "transpose", "configuration": ["order": [2, 1, 0]]], ["name": "bytes"]] },
            variant { configuration, _ in configuration["codecs"] = [["name": "bytes"], ["name": "gzip", "configuration": ["level": 1]]] },
            variant { configuration, _ in configuration["codecs"] = [Self.u16.v3Document()["codecs"]!.arrayValue![0]] },  // nested sharding
            variant { _, codecs in codecs = [["name": "crc32c"]] },
        ]
        for document in unsupported {
            #expect { try ArrayMetadata(v3: document) } throws: { error in
                guard case ZarrError.unsupported = error else { return false }
                return true
            }
        }
        let invalid = [
            variant { configuration, _ in configuration["chunk_shape"] = [1, 3, 4] },  // does not divide [2, 8, 12]
            variant { configuration, _ in configuration["chunk_shape"] = [4, 4] },
            variant { configuration, _ in configuration["chunk_shape"] = nil },
        ]
        for document in invalid {
            #expect { try ArrayMetadata(v3: document) } throws: { error in
                guard case ZarrError.invalidMetadata = error else { return false }
                return true
            }
        }
    }

    @Test func validationRefusesBadInnerChunks() throws {
        func with(_ inner: [Int], chunks: [Int] = [2, 8, 12]) -> ArrayMetadata {
            var metadata = Self.u16
            metadata.chunks = chunks
            metadata.innerChunks = inner
            return metadata
        }
        let cases: [(ArrayMetadata, String)] = [
            (with([1, 3, 4]), "do not divide"),
            (with([4, 4]), "differ in rank"),
            (with([1, 0, 4]), "at least 1"),
            (with([1, 1 << 20, 1 << 20], chunks: [1, 1 << 20, 1 << 20]), "2 GiB"),
            (with([1, 1, 1], chunks: [1, 1 << 31, 1 << 31]), "too large"),
        ]
        for (metadata, words) in cases {
            #expect {
                try metadata.validate()
            } throws: { error in
                guard case let ZarrError.invalidMetadata(message) = error else { return false }
                return message.contains(words)
            }
        }
        // Inner chunks carry the 2 GiB compressor limit, so a larger shard is fine.
        try with([1, 1 << 14, 1 << 14], chunks: [1, 1 << 15, 1 << 15]).validate()
        #expect {
            try Self.u16.validate(format: .v2)
        } throws: { error in
            guard case let ZarrError.invalidMetadata(message) = error else { return false }
            return message.contains("v3")
        }
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let zarr = ZarrHierarchy(store: LocalStore(root: folder.path, durable: false), format: .v2)
        #expect(throws: ZarrError.self) { try zarr.createArray(path: "sharded", metadata: Self.u16) }
    }
}
