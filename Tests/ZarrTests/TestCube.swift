import CubeStore
import Foundation
import JSON
@testable import Zarr

/// A small hierarchy written through the public API, shared by the Swift tests and the
/// zarr-python cross-check (python/check_store.py recomputes the same formulas).
enum TestCube {
    static let rootAttributes: [String: JSONValue] = ["title": "cube test", "version": 1, "scale": 0.5]

    static let red = ArrayMetadata(shape: [2, 5, 7], chunks: [1, 3, 4], dataType: .uint16,
                                   dimensionNames: ["time", "y", "x"], attributes: ["long_name": "red"],
                                   compression: .bloscZstd(level: 5))
    static let green = ArrayMetadata(shape: [2, 5, 7], chunks: [1, 3, 4], dataType: .uint16,
                                     dimensionNames: ["time", "y", "x"], compression: .zstd(level: 3))
    static let temp = ArrayMetadata(shape: [5, 7], chunks: [3, 4], dataType: .float32, fillValue: .float(.nan),
                                    dimensionNames: ["y", "x"], compression: .none)
    static let count = ArrayMetadata(shape: [5, 7], chunks: [5, 7], dataType: .uint8,
                                     dimensionNames: ["y", "x"], compression: .bloscZstd(level: 1, shuffle: .shuffle))
    static let scalar = ArrayMetadata(shape: [], chunks: [], dataType: .int64, fillValue: .integer(-1),
                                      compression: .bloscZstd(level: 5))
    static let metaX = ArrayMetadata(shape: [7], chunks: [7], dataType: .float64, fillValue: .float(0),
                                     dimensionNames: ["x"], compression: .zstd(level: 1))

    /// Chunks deliberately left unwritten (readers must see the fill value there).
    static let skippedGreen = [1, 1, 1]
    static let skippedTemp = [1, 0]

    static func redValue(_ i: [Int]) -> UInt16 { UInt16(i[0] * 1000 + i[1] * 37 + i[2] * 3 + 1) }
    static func greenValue(_ i: [Int]) -> UInt16 { UInt16(60000 - (i[0] * 100 + i[1] * 7 + i[2])) }
    static func tempValue(_ i: [Int]) -> Float { Float(i[0]) * 0.5 - Float(i[1]) * 0.25 }
    static func countValue(_ i: [Int]) -> UInt8 { UInt8((i[0] * 7 + i[1]) % 256) }
    static func metaXValue(_ i: [Int]) -> Double { Double(i[0]) * 10.5 }

    static func write(to store: any Store, format: ZarrFormat) throws -> ZarrHierarchy {
        let zarr = ZarrHierarchy(store: store, format: format)
        try zarr.createGroup(attributes: rootAttributes)
        try zarr.createGroup(path: "meta", attributes: ["a": 1])
        let arrays: [(String, ArrayMetadata)] = [("red", red), ("green", green), ("temp", temp), ("count", count), ("scalar", scalar), ("meta/x", metaX)]
        for (path, metadata) in arrays { try zarr.createArray(path: path, metadata: metadata) }
        try writeAll(zarr, "red", red, fill: 0, value: redValue)
        try writeAll(zarr, "green", green, fill: 0, skip: skippedGreen, value: greenValue)
        try writeAll(zarr, "temp", temp, fill: Float.nan, skip: skippedTemp, value: tempValue)
        try writeAll(zarr, "count", count, fill: 0, value: countValue)
        try zarr.writeChunk(arrayPath: "scalar", metadata: scalar, chunkIndex: [], values: [Int64(42)])
        try writeAll(zarr, "meta/x", metaX, fill: 0, value: metaXValue)
        try zarr.consolidate()
        return zarr
    }

    /// Writes every chunk (except `skip`) of an array, padding edge chunks with `fill`.
    static func writeAll<T: ZarrScalar>(_ zarr: ZarrHierarchy, _ path: String, _ metadata: ArrayMetadata,
                                        fill: T, skip: [Int]? = nil, value: ([Int]) -> T) throws {
        for chunkIndex in allIndices(metadata.chunkGridShape) where chunkIndex != skip {
            try zarr.writeChunk(arrayPath: path, metadata: metadata, chunkIndex: chunkIndex,
                                values: chunkValues(metadata, chunkIndex, fill: fill, value: value))
        }
    }

    /// One full chunk in C order: `value(global index)` inside the array, `fill` past its edge.
    static func chunkValues<T>(_ metadata: ArrayMetadata, _ chunkIndex: [Int], fill: T, value: ([Int]) -> T) -> [T] {
        allIndices(metadata.chunks).map { local in
            let global = zip(zip(chunkIndex, metadata.chunks), local).map { $0.0 * $0.1 + $1 }
            return zip(global, metadata.shape).allSatisfy { $0 < $1 } ? value(global) : fill
        }
    }

    /// All indices of a grid in C order ([[]] for a 0-d grid).
    static func allIndices(_ shape: [Int]) -> [[Int]] {
        shape.reduce([[]]) { prefixes, extent in prefixes.flatMap { prefix in (0..<extent).map { prefix + [$0] } } }
    }
}

/// A fresh folder under the system temp dir, removed by `remove()`.
struct ScratchFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("zarr-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Sharded arrays written through the public API for the zarr-python and tensorstore
/// cross-check (python/check_sharded.py recomputes the same formulas). Each has inner chunks
/// entirely of the fill value (not stored), and u16 also shards that are all fill (just an
/// index) and one shard never written.
enum ShardedTestCube {
    static let u16 = ArrayMetadata(shape: [3, 20, 30], chunks: [2, 8, 12], dataType: .uint16,
                                   dimensionNames: ["t", "y", "x"], compression: .bloscZstd(level: 5), innerChunks: [1, 4, 4])
    static let f32 = ArrayMetadata(shape: [9, 10], chunks: [6, 10], dataType: .float32, fillValue: .float(.nan),
                                   dimensionNames: ["y", "x"], compression: .zstd(level: 3), innerChunks: [3, 5])
    static let u8 = ArrayMetadata(shape: [7], chunks: [4], dataType: .uint8, fillValue: .integer(255),
                                  compression: .none, innerChunks: [2])

    /// The u16 shard left unwritten.
    static let skippedU16 = [1, 2, 2]

    /// Fill (0) in the inner chunk t 0, y 0..<4, x 4..<8 and for t 2, y < 8 (shards [1, 0, *] all fill).
    static func u16Value(_ i: [Int]) -> UInt16 {
        if i[0] == 0 && i[1] < 4 && (4..<8).contains(i[2]) { return 0 }
        if i[0] == 2 && i[1] < 8 { return 0 }
        return UInt16(i[0] * 1000 + i[1] * 37 + i[2] * 3 + 1)
    }
    /// NaN (the fill) in the inner chunk y 0..<3, x 5..<10.
    static func f32Value(_ i: [Int]) -> Float { i[0] < 3 && i[1] >= 5 ? .nan : Float(i[0]) * 0.5 - Float(i[1]) * 0.25 }
    /// 255 (the fill) at x 2 and 3: the second inner chunk of the first shard.
    static func u8Value(_ i: [Int]) -> UInt8 { (2...3).contains(i[0]) ? 255 : UInt8(i[0] * 3 + 1) }

    static func write(to store: any Store) throws -> ZarrHierarchy {
        let zarr = ZarrHierarchy(store: store, format: .v3)
        try zarr.createGroup(attributes: ["title": "sharded"])
        for (path, metadata) in [("u16", u16), ("f32", f32), ("u8", u8)] { try zarr.createArray(path: path, metadata: metadata) }
        try TestCube.writeAll(zarr, "u16", u16, fill: 0, skip: skippedU16, value: u16Value)
        try TestCube.writeAll(zarr, "f32", f32, fill: Float.nan, value: f32Value)
        try TestCube.writeAll(zarr, "u8", u8, fill: 255, value: u8Value)
        try zarr.consolidate()
        return zarr
    }
}
