import Composite
import CubeStore
import Foundation
import Zarr

/// The element types `ChunkWriter.read(…as:)` takes (Zarr's scalar protocol), named here so a
/// reader of chunks such as the pyramid needs no Zarr import, nor a protocol of its own.
public typealias ChunkScalar = ZarrScalar

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
        try write(array: array, bin: bin, cy: cy, cx: cx, bytes: UnsafeRawBufferPointer(plane))
    }

    /// `write` for a plane of any element type: `bytes` holds the window's values in the
    /// array's data type (uint16, or float32 for statistics that declare it).
    @discardableResult
    public func write(array: String, level: Int = 0, bin: Int, cy: Int, cx: Int,
                      bytes plane: UnsafeRawBufferPointer) throws -> Int {
        let window = layout.levels[level].chunkWindow(cy: cy, cx: cx)
        let meta = layout.dataArrayMetadata(array, level: level)
        let width = meta.dataType.size
        precondition(plane.count == window.pixelCount * width, "plane does not match chunk (\(cy), \(cx))")
        let c = layout.grid.chunk
        let key = try layout.chunkKey(array: array, level: level, bin: bin, cy: cy, cx: cx)
        let encoded: Data
        if window.width == c && window.height == c {
            encoded = try ChunkCodec.encode(plane, metadata: meta)
        } else {
            let padded = UnsafeMutableRawBufferPointer.allocate(byteCount: c * c * width, alignment: 16)
            defer { padded.deallocate() }
            // The fill value: 0 for uint16, NaN for float32, `int32Fill` for int32.
            if meta.dataType == .float32 {
                padded.bindMemory(to: Float.self).initialize(repeating: .nan)
            } else if meta.dataType == .int32 {
                padded.bindMemory(to: Int32.self).initialize(repeating: OutputType.int32Fill)
            } else {
                padded.initializeMemory(as: UInt8.self, repeating: 0)
            }
            let row = window.width * width
            for r in 0..<window.height {
                UnsafeMutableRawBufferPointer(rebasing: padded[(r * c * width)..<(r * c * width + row)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: plane[(r * row)..<((r + 1) * row)]))
            }
            encoded = try ChunkCodec.encode(UnsafeRawBufferPointer(padded), metadata: meta)
        }
        try store.put(key, encoded)
        return encoded.count
    }

    /// Reads one uint16 chunk back as the chunk window's plane (nil when it was never written).
    public func read(array: String, level: Int = 0, bin: Int, cy: Int, cx: Int) throws -> [UInt16]? {
        try read(array: array, level: level, bin: bin, cy: cy, cx: cx, as: UInt16.self)
    }

    /// Reads one chunk back as the chunk window's plane of `T` (the array's type).
    public func read<T: ZarrScalar>(array: String, level: Int = 0, bin: Int, cy: Int, cx: Int,
                                    as type: T.Type) throws -> [T]? {
        let window = layout.levels[level].chunkWindow(cy: cy, cx: cx)
        let c = layout.grid.chunk
        guard let full = try zarr.readChunk(arrayPath: layout.arrayPath(array, level: level),
                                            metadata: layout.dataArrayMetadata(array, level: level),
                                            chunkIndex: [bin, cy, cx], as: T.self) else { return nil }
        if window.width == c && window.height == c { return full }
        var out = [T]()
        out.reserveCapacity(window.pixelCount)
        for r in 0..<window.height { out.append(contentsOf: full[(r * c)..<(r * c + window.width)]) }
        return out
    }
}
