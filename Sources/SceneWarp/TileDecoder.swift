import CDeflate
import GDALKit

/// Decodes one stored GeoTIFF block into samples: DEFLATE (libdeflate, as GDAL's own GTiff
/// driver does), byte order, then the horizontal predictor. Reading tiles this way instead of
/// through GDAL's RasterIO skips its block cache and window copies and lets the caller take
/// just the pixels it needs straight from the decoded tile.
final class TileDecoder {
    private let decompressor: OpaquePointer

    init() {
        guard let d = libdeflate_alloc_decompressor() else { fatalError("libdeflate: out of memory") }
        decompressor = d
    }

    deinit { libdeflate_free_decompressor(decompressor) }

    /// `tile` holds `layout.blockWidth * layout.blockHeight` samples; `rows` is how many of
    /// them the image really has (fewer in the last row of blocks; strips are stored short).
    func decode(_ input: UnsafeRawBufferPointer, layout: TiffTileLayout, rows: Int,
                into tile: UnsafeMutableRawBufferPointer) throws {
        let needed = rows * layout.blockWidth * layout.bytesPerSample
        switch layout.compression {
        case .none:
            guard input.count >= needed else { throw TileDecodeError("block holds \(input.count) bytes, expected \(needed)") }
            tile.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: min(input.count, tile.count))
        case .deflate:
            var actual = 0
            let result = libdeflate_zlib_decompress(decompressor, input.baseAddress, input.count,
                                                    tile.baseAddress, tile.count, &actual)
            guard result == LIBDEFLATE_SUCCESS else { throw TileDecodeError("DEFLATE error \(result.rawValue)") }
            guard actual >= needed else { throw TileDecodeError("block inflates to \(actual) bytes, expected \(needed)") }
        }
        let width = layout.blockWidth
        if layout.bytesPerSample == 2 {
            let samples = tile.baseAddress!.assumingMemoryBound(to: UInt16.self)
            if layout.bigEndian {
                for i in 0..<(rows * width) { samples[i] = UInt16(bigEndian: samples[i]) }
            }
            if layout.predictor == 2 { accumulateRows(samples, width: width, rows: rows) }
        } else if layout.predictor == 2 {
            accumulateRows(tile.baseAddress!.assumingMemoryBound(to: UInt8.self), width: width, rows: rows)
        }
    }
}

/// Undoes horizontal differencing: each sample was stored as the difference to its left
/// neighbour, modulo the type's range.
@inline(__always)
private func accumulateRows<T: FixedWidthInteger>(_ samples: UnsafeMutablePointer<T>, width: Int, rows: Int) {
    for r in 0..<rows {
        let row = samples + r * width
        var acc = row[0]
        for i in 1..<width {
            acc &+= row[i]
            row[i] = acc
        }
    }
}

struct TileDecodeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
