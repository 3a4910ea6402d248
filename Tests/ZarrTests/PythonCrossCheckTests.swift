import CubeStore
import Foundation
import Testing
@testable import Zarr

/// Writes the TestCube hierarchy with the Swift API and reads it back with zarr-python 3,
/// xarray, tensorstore and (v2) GDAL through python/check_store.py; does the same for sharded
/// arrays both ways through python/check_sharded.py.
/// Skipped, with a message, when the project's Python venv is missing on a developer's machine;
/// under CI (`CI` set, as `.ci/run` runs) a missing venv is a failure, never a quiet skip.
@Suite struct PythonCrossCheckTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let python = repository.appendingPathComponent(".venv/bin/python").path
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python")
    static let venvAvailable = FileManager.default.isExecutableFile(atPath: python)
        || ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" } == true

    /// Runs a script of python/ and expects exit status 0 and stdout starting with `expected`.
    static func run(_ script: String, _ arguments: [String], expecting expected: String) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw CrossCheckError("no Python venv at \(Self.python) under CI: run scripts/test, which makes it")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [scripts.appendingPathComponent(script).path] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read before waiting so a chatty child cannot block on a full pipe.
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(script) failed:\n\(stdout)\n\(stderr)")
        #expect(stdout.hasPrefix(expected), "\(stdout)")
        print("\(script):", stdout.trimmingCharacters(in: .whitespacesAndNewlines))  // which readers ran
    }

    @Test(.enabled(if: venvAvailable, "no Python venv at .venv (see scripts/requirements.txt); zarr-python cross-check skipped"),
          arguments: ZarrFormat.allCases)
    func zarrPythonReadsWhatWeWrite(_ format: ZarrFormat) throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let storePath = folder.path + "/cube.zarr"
        _ = try TestCube.write(to: LocalStore(root: storePath, durable: false), format: format)
        try Self.run("check_store.py", [storePath, String(format.rawValue)], expecting: "OK v\(format.rawValue)")
    }

    @Test(.enabled(if: venvAvailable, "no Python venv at .venv (see scripts/requirements.txt); sharding cross-check skipped"))
    func zarrPythonAndTensorstoreReadOurShards() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let storePath = folder.path + "/sharded.zarr"
        _ = try ShardedTestCube.write(to: LocalStore(root: storePath, durable: false))
        try Self.run("check_sharded.py", ["read", storePath], expecting: "OK sharded read")
    }

    @Test(.enabled(if: venvAvailable, "no Python venv at .venv (see scripts/requirements.txt); sharding cross-check skipped"))
    func weDecodeZarrPythonShards() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try Self.run("check_sharded.py", ["write", folder.path], expecting: "OK sharded write")
        let store = LocalStore(root: folder.path + "/py.zarr", durable: false)
        let zarr = try ZarrHierarchy.open(store: store)
        var absentInner = 0, missingShards = 0
        for name in ["py_u16", "py_f32"] {
            let metadata = try zarr.readArrayMetadata(path: name)
            #expect(metadata.innerChunks != nil && metadata.compression == .bloscZstd(level: 5, shuffle: .bitshuffle), "\(metadata)")
            let expected = try #require(FileManager.default.contents(atPath: folder.path + "/\(name).raw"))
            var assembled = [UInt8](repeating: 0xA5, count: metadata.shape.reduce(1, *) * metadata.dataType.size)
            for chunkIndex in TestCube.allIndices(metadata.chunkGridShape) {
                let key = try zarr.chunkKey(arrayPath: name, metadata: metadata, chunkIndex: chunkIndex)
                guard let stored = try store.get(key) else {
                    missingShards += 1
                    Self.place(metadata.filledChunk(), of: chunkIndex, metadata, into: &assembled)
                    continue
                }
                let shard = try ChunkCodec.decode(stored, metadata: metadata)
                Self.place(shard, of: chunkIndex, metadata, into: &assembled)
                // Partial reads agree with the full decode, inner chunk by inner chunk.
                let index = try ShardIndex(stored.suffix(try ShardIndex.byteCount(metadata: metadata)), metadata: metadata,
                                           shardByteCount: stored.count)
                for position in TestCube.allIndices(metadata.innerChunkGridShape) {
                    let block = Self.innerBlock(shard, metadata, position)
                    if let range = index.range(ofInner: position) {
                        #expect(try ChunkCodec.decodeInner(stored[range], metadata: metadata) == block)
                    } else {
                        absentInner += 1
                        #expect(block == Array(metadata.filledChunk().prefix(metadata.innerChunkByteCount)))
                    }
                }
            }
            #expect(assembled == [UInt8](expected), "\(name) differs from zarr-python's values")
        }
        #expect(absentInner > 0 && missingShards > 0, "the fixture should exercise absent inner chunks and shards")
    }

    /// Copies the in-bounds part of a decoded chunk into the whole array's C-order bytes.
    static func place(_ chunk: [UInt8], of chunkIndex: [Int], _ metadata: ArrayMetadata, into array: inout [UInt8]) {
        let size = metadata.dataType.size
        for (ordinal, local) in TestCube.allIndices(metadata.chunks).enumerated() {
            let global = zip(zip(chunkIndex, metadata.chunks), local).map { $0.0 * $0.1 + $1 }
            guard zip(global, metadata.shape).allSatisfy({ $0 < $1 }) else { continue }
            let target = zip(global, metadata.shape).reduce(0) { $0 * $1.1 + $1.0 }
            array.replaceSubrange(target * size..<(target + 1) * size, with: chunk[ordinal * size..<(ordinal + 1) * size])
        }
    }

    /// Bytes of inner chunk `position` cut out of a decoded shard, in C order.
    static func innerBlock(_ shard: [UInt8], _ metadata: ArrayMetadata, _ position: [Int]) -> [UInt8] {
        let size = metadata.dataType.size, inner = metadata.innerChunks ?? metadata.chunks
        return TestCube.allIndices(inner).flatMap { local in
            let element = zip(zip(position, inner), local).map { $0.0 * $0.1 + $1 }
            let ordinal = zip(element, metadata.chunks).reduce(0) { $0 * $1.1 + $1.0 }
            return shard[ordinal * size..<(ordinal + 1) * size]
        }
    }
}

struct CrossCheckError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
