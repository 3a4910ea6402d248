import CZstd
import Foundation

/// Plain zstd frames, as the v3 "zstd" codec and numcodecs' Zstd write them: one frame with
/// the content size in its header (numcodecs needs it to size its output buffer).
enum ZstdCodec {
    /// ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR (macros Swift does not import).
    private static let contentSizeUnknown = UInt64.max
    private static let contentSizeError = UInt64.max - 1

    static func encode(_ input: UnsafeRawBufferPointer, level: Int) throws -> Data {
        let bound = ZSTD_compressBound(input.count)
        guard ZSTD_isError(bound) == 0 else { throw ZarrError.codec("zstd cannot compress \(input.count) bytes") }
        var output = Data(count: bound)
        let written = output.withUnsafeMutableBytes { destination in
            // ZSTD_compress writes the frame content size (contentSizeFlag defaults to 1).
            ZSTD_compress(destination.baseAddress, destination.count, input.baseAddress, input.count, Int32(level))
        }
        guard ZSTD_isError(written) == 0 else { throw ZarrError.codec("zstd compression failed: \(errorName(written))") }
        output.count = written
        return output
    }

    /// Decompresses into `destination`, which must be exactly the decoded size.
    static func decode(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws {
        guard let base = source.baseAddress, source.count > 0 else { throw ZarrError.codec("empty zstd frame") }
        let declared = ZSTD_getFrameContentSize(base, source.count)
        if declared == contentSizeError { throw ZarrError.codec("corrupt zstd frame (bad header)") }
        if declared != contentSizeUnknown, declared > UInt64(destination.count) {
            throw ZarrError.codec("zstd frame holds \(declared) bytes, expected \(destination.count)")
        }
        // A capacity of exactly the expected size makes zstd itself refuse longer content.
        let written = ZSTD_decompress(destination.baseAddress, destination.count, base, source.count)
        guard ZSTD_isError(written) == 0 else { throw ZarrError.codec("corrupt zstd frame: \(errorName(written))") }
        guard written == destination.count else {
            throw ZarrError.codec("zstd frame holds \(written) bytes, expected \(destination.count)")
        }
    }

    private static func errorName(_ code: Int) -> String {
        guard let name = ZSTD_getErrorName(code) else { return "code \(code)" }
        return String(cString: name)
    }
}
