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
    /// Only `need` (rows, and columns from 0) must come out right: decoding stops soon after
    /// the last needed row, and the predictor runs over the needed part only.
    func decode(_ input: UnsafeRawBufferPointer, layout: TiffTileLayout, rows: Int,
                need: (rows: Range<Int>, columns: Int), into tile: UnsafeMutableRawBufferPointer) throws {
        let rowBytes = layout.blockWidth * layout.bytesPerSample
        let lastRow = min(rows, need.rows.upperBound)
        let needed = lastRow * rowBytes
        switch layout.compression {
        case .none:
            guard input.count >= needed else { throw TileDecodeError("block holds \(input.count) bytes, expected \(needed)", decodeFailure: true) }
            tile.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: min(input.count, tile.count))
        case .deflate:
            // When DEFLATE runs out of room it stops before the symbol that does not fit: a match
            // (at most 258 bytes) or a stored block (at most 65,535). With that much room beyond
            // the needed rows, everything before them has been written.
            let room = min(tile.count, needed + 65_535 + 258)
            var actual = 0
            let result = libdeflate_zlib_decompress(decompressor, input.baseAddress, input.count,
                                                    tile.baseAddress, room, &actual)
            if result == LIBDEFLATE_INSUFFICIENT_SPACE && room < tile.count {
                actual = room - 65_535 - 258
            } else if result != LIBDEFLATE_SUCCESS {
                throw TileDecodeError("DEFLATE error \(result.rawValue)", decodeFailure: true)
            }
            guard actual >= needed else { throw TileDecodeError("block inflates to \(actual) bytes, expected \(needed)", decodeFailure: true) }
        }
        let width = layout.blockWidth, first = min(need.rows.lowerBound, lastRow)
        let columns = min(width, need.columns)
        if layout.bytesPerSample == 2 {
            let samples = tile.baseAddress!.assumingMemoryBound(to: UInt16.self)
            if layout.bigEndian {
                for r in first..<lastRow {
                    for i in (r * width)..<(r * width + columns) { samples[i] = UInt16(bigEndian: samples[i]) }
                }
            }
            if layout.predictor == 2 { accumulateRows(samples, width: width, rows: first..<lastRow, columns: columns) }
        } else if layout.predictor == 2 {
            accumulateRows(tile.baseAddress!.assumingMemoryBound(to: UInt8.self), width: width,
                           rows: first..<lastRow, columns: columns)
        }
    }
}

/// Undoes horizontal differencing: each sample was stored as the difference to its left
/// neighbour, modulo the type's range. A running sum is one long dependency chain per row, so
/// four rows advance side by side to keep the core's adders busy.
@inline(__always)
private func accumulateRows<T: FixedWidthInteger>(_ samples: UnsafeMutablePointer<T>, width: Int,
                                                  rows: Range<Int>, columns: Int) {
    guard columns > 1 else { return }
    var r = rows.lowerBound
    while r + 4 <= rows.upperBound {
        let p0 = samples + r * width, p1 = p0 + width, p2 = p1 + width, p3 = p2 + width
        var a0 = p0[0], a1 = p1[0], a2 = p2[0], a3 = p3[0]
        for i in 1..<columns {
            a0 &+= p0[i]; p0[i] = a0
            a1 &+= p1[i]; p1[i] = a1
            a2 &+= p2[i]; p2[i] = a2
            a3 &+= p3[i]; p3[i] = a3
        }
        r += 4
    }
    while r < rows.upperBound {
        let row = samples + r * width
        var acc = row[0]
        for i in 1..<columns {
            acc &+= row[i]
            row[i] = acc
        }
        r += 1
    }
}

struct TileDecodeError: Error, CustomStringConvertible {
    let description: String
    /// True when bytes arrived and did not decode (as opposed to a block that could not be
    /// located or fetched).
    let isDecodeFailure: Bool
    /// The fetch failed on the network or the server (5xx, 429, no answer): worth another try.
    let isTransient: Bool
    init(_ description: String, decodeFailure: Bool = false, transient: Bool = false) {
        self.description = description
        isDecodeFailure = decodeFailure
        isTransient = transient
    }
}
