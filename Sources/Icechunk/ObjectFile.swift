import CZstd
import Foundation

/// Failures of the Icechunk layer. Every one says what it concerns; none is a trap.
public enum IcechunkError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// An object's bytes do not follow the format (or are hostile).
    case corrupt(String)
    /// The repository (or an object it names) does not exist.
    case notFound(String)
    /// A writer lost the race for `repo`: the branch moved since `expected` was read.
    case conflict(branch: String, expected: ObjectId12?, actual: ObjectId12?)
    /// A request the format or this implementation does not allow.
    case invalid(String)
    /// The repository already exists where `create` was asked to make one.
    case alreadyExists(String)

    public var description: String {
        switch self {
        case .corrupt(let why): return "corrupt Icechunk object: \(why)"
        case .notFound(let what): return "not found: \(what)"
        case let .conflict(branch, expected, actual):
            return "branch \(branch) moved during the commit (expected \(expected.map(\.description) ?? "none"), "
                + "now \(actual.map(\.description) ?? "none")): nothing was committed; read the new tip and commit again"
        case .invalid(let why): return "invalid: \(why)"
        case .alreadyExists(let what): return "already exists: \(what)"
        }
    }

    public var errorDescription: String? { description }
}

/// The binary envelope of every metadata object: a 39-byte header, then one zstd frame that
/// holds the FlatBuffer (spec 2, "Binary File Format").
enum ObjectFile {
    enum FileType: UInt8 { case snapshot = 1, manifest = 2, transactionLog = 4, repoInfo = 6 }

    /// "ICE🧊CHUNK" in UTF-8.
    static let magic: [UInt8] = [0x49, 0x43, 0x45, 0xF0, 0x9F, 0xA7, 0x8A, 0x43, 0x48, 0x55, 0x4E, 0x4B]
    static let writerNameLength = 24
    static let headerLength = 12 + 24 + 3
    static let specVersion: UInt8 = 2
    /// Ours, so an object can be traced back to its writer: icechunk writes `ic-2.3.0` and reads
    /// the part before the first "-" as the application name.
    static let writerName = "cube-0.1"
    /// Decompressed metadata larger than this is refused (a zstd bomb cannot exhaust memory).
    static let maxPayload = 2 << 30
    static let identifier = "Ichk"

    static func encode(_ type: FileType, flatbuffer: [UInt8], level: Int32 = 3) throws -> Data {
        var out = Data(magic)
        var name = Array(writerName.utf8.prefix(writerNameLength))
        name += [UInt8](repeating: 0x20, count: writerNameLength - name.count)
        out.append(contentsOf: name)
        out.append(contentsOf: [specVersion, type.rawValue, 1])
        out.append(try compress(flatbuffer, level: level))
        return out
    }

    /// The writer name (trimmed) and the FlatBuffer of an object of the expected type.
    static func decode(_ data: Data, expect type: FileType) throws -> (writer: String, flatbuffer: [UInt8]) {
        let bytes = [UInt8](data)
        guard bytes.count >= headerLength else { throw IcechunkError.corrupt("object shorter than its header (\(bytes.count) bytes)") }
        guard Array(bytes[0..<12]) == magic else { throw IcechunkError.corrupt("not an Icechunk object (bad magic)") }
        let writer = String(decoding: bytes[12..<36], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard bytes[36] == specVersion else { throw IcechunkError.corrupt("spec version \(bytes[36]), this reader knows 2") }
        guard bytes[37] == type.rawValue else { throw IcechunkError.corrupt("file type \(bytes[37]), expected \(type.rawValue)") }
        let payload = Array(bytes[headerLength...])
        switch bytes[38] {
        case 0: return (writer, payload)
        case 1: return (writer, try decompress(payload))
        default: throw IcechunkError.corrupt("compression \(bytes[38]) unknown")
        }
    }

    static func compress(_ input: [UInt8], level: Int32) throws -> Data {
        let bound = ZSTD_compressBound(input.count)
        var out = Data(count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level) }
        }
        guard ZSTD_isError(written) == 0 else { throw IcechunkError.invalid("zstd cannot compress \(input.count) bytes") }
        out.count = written
        return out
    }

    /// Streaming decompression of exactly one frame, capped at `maxPayload` bytes.
    static func decompress(_ input: [UInt8], limit: Int = maxPayload) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw IcechunkError.invalid("zstd: out of memory") }
        defer { ZSTD_freeDStream(stream) }
        var out: [UInt8] = []
        let chunk = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunk)
        var finished = false
        try input.withUnsafeBytes { src in
            var inBuf = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while true {
                var produced = 0
                let r: Int = buffer.withUnsafeMutableBytes { dst in
                    var outBuf = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    let r = ZSTD_decompressStream(stream, &outBuf, &inBuf)
                    produced = outBuf.pos
                    if ZSTD_isError(r) == 0 { out.append(contentsOf: dst.prefix(outBuf.pos)) }
                    return r
                }
                if ZSTD_isError(r) != 0 { throw IcechunkError.corrupt("zstd: \(String(cString: ZSTD_getErrorName(r)))") }
                if out.count > limit { throw IcechunkError.corrupt("payload larger than \(limit) bytes") }
                if r == 0 { finished = true; break }
                // All input consumed and the output not full: the frame ends early (truncated).
                if inBuf.pos == inBuf.size && produced < chunk { break }
            }
            guard !finished || inBuf.pos == inBuf.size else { throw IcechunkError.corrupt("bytes after the zstd frame") }
        }
        guard finished else { throw IcechunkError.corrupt("the zstd frame is truncated") }
        return out
    }
}
