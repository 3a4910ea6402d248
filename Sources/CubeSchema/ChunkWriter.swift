import CubeStore
import Foundation
import Zarr

/// Writes finished (time, y, x) chunks of a cube's data arrays. Each chunk is encoded with
/// the array's codecs and stored with one atomic put, so no reader ever sees half a chunk.
public struct ChunkWriter: Sendable {
    public let layout: CubeLayout
    public let store: any Store
    let zarr: ZarrHierarchy

    public init(layout: CubeLayout, store: any Store) {
        self.layout = layout
        self.store = store
        zarr = ZarrHierarchy(store: store, format: layout.format)
    }

    /// Writes one chunk from a plane covering the chunk's window inside the grid
    /// (`window.width * window.height` values, row-major). Edge chunks are padded with the
    /// fill value to the full chunk shape, as Zarr stores them. Returns the stored byte count.
    @discardableResult
    public func write(array: String, bin: Int, cy: Int, cx: Int, plane: UnsafeBufferPointer<UInt16>) throws -> Int {
        let window = layout.grid.chunkWindow(cy: cy, cx: cx)
        precondition(plane.count == window.pixelCount, "plane does not match chunk (\(cy), \(cx))")
        let c = layout.grid.chunk
        let meta = layout.dataArrayMetadata(array)
        let key = try layout.chunkKey(array: array, bin: bin, cy: cy, cx: cx)
        let encoded: Data
        if window.width == c && window.height == c {
            encoded = try ChunkCodec.encode(UnsafeRawBufferPointer(plane), metadata: meta)
        } else {
            var padded = [UInt16](repeating: 0, count: c * c)
            padded.withUnsafeMutableBufferPointer { dst in
                for r in 0..<window.height {
                    let src = UnsafeBufferPointer(rebasing: plane[(r * window.width)..<((r + 1) * window.width)])
                    _ = UnsafeMutableBufferPointer(rebasing: dst[(r * c)..<(r * c + window.width)]).initialize(from: src)
                }
            }
            encoded = try padded.withUnsafeBytes { try ChunkCodec.encode($0, metadata: meta) }
        }
        try store.put(key, encoded)
        return encoded.count
    }

    /// Reads one chunk back as the chunk window's plane (nil when it was never written).
    public func read(array: String, bin: Int, cy: Int, cx: Int) throws -> [UInt16]? {
        let window = layout.grid.chunkWindow(cy: cy, cx: cx)
        let c = layout.grid.chunk
        guard let full = try zarr.readChunk(arrayPath: array, metadata: layout.dataArrayMetadata(array),
                                            chunkIndex: [bin, cy, cx], as: UInt16.self) else { return nil }
        if window.width == c && window.height == c { return full }
        var out = [UInt16]()
        out.reserveCapacity(window.pixelCount)
        for r in 0..<window.height { out.append(contentsOf: full[(r * c)..<(r * c + window.width)]) }
        return out
    }
}
