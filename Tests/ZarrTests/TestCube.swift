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
