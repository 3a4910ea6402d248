import CBlosc
import Foundation

/// Blosc (c-blosc 1.x) with the zstd compressor, as numcodecs and the v3 "blosc" codec use it.
/// Only the `_ctx` entry points are used: they keep no global state, so any number of
/// threads may compress and decompress at once.
enum BloscCodec {
    /// Bytes a blosc frame adds at most (BLOSC_MAX_OVERHEAD).
    static let maxOverhead = 16

    static func encode(_ input: UnsafeRawBufferPointer, level: Int, shuffle: BloscShuffle, typeSize: Int) throws -> Data {
        guard input.count <= Int(Int32.max) - maxOverhead else {
            throw ZarrError.codec("blosc cannot compress \(input.count) bytes (limit 2 GiB)")
        }
        guard let source = input.baseAddress, input.count > 0 else {
            throw ZarrError.codec("blosc: empty chunk")
        }
        var output = Data(count: input.count + maxOverhead)
        let written = output.withUnsafeMutableBytes { destination in
            blosc_compress_ctx(Int32(level), Int32(shuffle.rawValue), typeSize, input.count,
                               source, destination.baseAddress, destination.count, "zstd", 0, 1)
        }
        // With destsize = nbytes + overhead blosc always succeeds, so <= 0 means a real error
        // (for instance a c-blosc built without zstd).
        guard written > 0 else { throw ZarrError.codec("blosc compression failed (code \(written))") }
        output.count = Int(written)
        return output
    }

    /// Decompresses one blosc frame into `destination`, which must be exactly the frame's size.
    static func decode(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws {
        guard source.count >= maxOverhead, let base = source.baseAddress else {
            throw ZarrError.codec("blosc frame of \(source.count) bytes is shorter than its header")
        }
        var decodedSize = 0
        // Checks that the header's compressed size equals the bytes we have, so a truncated
        // or padded frame is rejected before c-blosc reads it.
        guard blosc_cbuffer_validate(base, source.count, &decodedSize) == 0 else {
            throw ZarrError.codec("corrupt blosc frame (header does not match its \(source.count) bytes)")
        }
        guard decodedSize == destination.count else {
            throw ZarrError.codec("blosc frame holds \(decodedSize) bytes, expected \(destination.count)")
        }
        if decodedSize == 0 { return }
        let result = blosc_decompress_ctx(base, destination.baseAddress, destination.count, 1)
        guard result == decodedSize else {
            throw ZarrError.codec("corrupt blosc frame (decompression returned \(result))")
        }
    }
}
