import Foundation
import GDALKit
import Testing
@testable import TiffIndex

/// A fresh temporary directory, removed by `cleanup()`.
struct TiffTempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tiffindex-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// Deterministic pseudo-random numbers (splitmix64).
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

func fileBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Runs a GDAL command line tool (gdal_translate, ...) and fails with its stderr on error.
func gdalTool(_ name: String, _ arguments: [String]) throws {
    let process = Process()
    let candidates = ["/usr/bin/\(name)", "/usr/local/bin/\(name)"]
    guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw CogHeaderError("\(name) not found")
    }
    process.executableURL = URL(fileURLWithPath: exe)
    process.arguments = arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CogHeaderError("\(name) \(arguments.joined(separator: " ")): \(String(decoding: message, as: UTF8.self))")
    }
}

/// Parses `bytes` the way a remote reader does: starting from `start` bytes and growing the
/// prefix to what `needMore` asks, at most `maxRounds` times. Returns the header and the sizes asked.
func parseGrowing(_ bytes: [UInt8], start: Int, fileSize: UInt64?, maxRounds: Int = 5) throws -> (CogHeader, [Int]) {
    var n = min(start, bytes.count)
    var asked: [Int] = []
    for _ in 0...maxRounds {
        switch try CogHeader.parse(Array(bytes[0..<n]), fileSize: fileSize) {
        case .header(let h):
            return (h, asked)
        case .needMore(let more):
            guard more > n, more <= bytes.count else {
                throw CogHeaderError("needMore(\(more)) with \(n) bytes given of \(bytes.count)")
            }
            asked.append(more)
            n = more
        }
    }
    throw CogHeaderError("no header after \(maxRounds) rounds: asked \(asked)")
}

/// A minimal TIFF writer for hand-made (and deliberately broken) files.
struct TiffBuilder {
    enum Value {
        case shorts([UInt16])
        case longs([UInt32])
        case long8s([UInt64])
        case doubles([Double])
        case ascii(String)
        /// Raw: field type, count, and the value bytes (already in the file's byte order).
        case raw(type: UInt16, count: UInt64, bytes: [UInt8])
    }
    var bigEndian = false
    var bigTIFF = false
    var entries: [(UInt16, Value)] = []
    /// Overrides the IFD0 offset written in the header.
    var ifdOffsetOverride: UInt64?
    /// Overrides the next-IFD offset (0 by default).
    var nextIFD: UInt64 = 0
    /// Bytes appended after the values (e.g. tile data), starting at `dataStart`.
    var trailing: [UInt8] = []

    mutating func add(_ tag: UInt16, _ value: Value) { entries.append((tag, value)) }

    func put(_ v: UInt64, _ size: Int, into out: inout [UInt8]) {
        for i in 0..<size {
            let shift = bigEndian ? (size - 1 - i) * 8 : i * 8
            out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift)))
        }
    }

    func encode(_ value: Value) -> (type: UInt16, count: UInt64, bytes: [UInt8]) {
        var b: [UInt8] = []
        switch value {
        case .shorts(let v): v.forEach { put(UInt64($0), 2, into: &b) }; return (3, UInt64(v.count), b)
        case .longs(let v): v.forEach { put(UInt64($0), 4, into: &b) }; return (4, UInt64(v.count), b)
        case .long8s(let v): v.forEach { put($0, 8, into: &b) }; return (16, UInt64(v.count), b)
        case .doubles(let v): v.forEach { put($0.bitPattern, 8, into: &b) }; return (12, UInt64(v.count), b)
        case .ascii(let s): b = Array(s.utf8) + [0]; return (2, UInt64(b.count), b)
        case .raw(let type, let count, let bytes): return (type, count, bytes)
        }
    }

    /// Where the values area ends: offsets of trailing data start here.
    var dataStart: Int { build(trailingIncluded: false).count }

    func build(trailingIncluded: Bool = true) -> [UInt8] {
        let headerSize = bigTIFF ? 16 : 8
        let entrySize = bigTIFF ? 20 : 12
        let countSize = bigTIFF ? 8 : 2
        let offSize = bigTIFF ? 8 : 4
        let sorted = entries.sorted { $0.0 < $1.0 }
        let ifdSize = countSize + sorted.count * entrySize + offSize
        var values: [UInt8] = []
        var ifd: [UInt8] = []
        put(UInt64(sorted.count), countSize, into: &ifd)
        for (tag, value) in sorted {
            let (type, count, bytes) = encode(value)
            put(UInt64(tag), 2, into: &ifd)
            put(UInt64(type), 2, into: &ifd)
            put(count, offSize, into: &ifd)
            if bytes.count <= offSize {
                ifd += bytes + [UInt8](repeating: 0, count: offSize - bytes.count)
            } else {
                put(UInt64(headerSize + ifdSize + values.count), offSize, into: &ifd)
                values += bytes
                if values.count % 2 == 1 { values.append(0) }
            }
        }
        put(nextIFD, offSize, into: &ifd)
        var out: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
        put(bigTIFF ? 43 : 42, 2, into: &out)
        if bigTIFF { put(8, 2, into: &out); put(0, 2, into: &out) }
        put(ifdOffsetOverride ?? UInt64(headerSize), offSize, into: &out)
        out += ifd + values
        if trailingIncluded { out += trailing }
        return out
    }

    /// A valid 100 x 60 tiled (64 x 32 blocks, 2 x 2) uint16 GeoTIFF in EPSG:32632 whose
    /// blocks are 16 bytes each after the header.
    static func small(bigEndian: Bool = false, bigTIFF: Bool = false) -> TiffBuilder {
        var b = TiffBuilder(bigEndian: bigEndian, bigTIFF: bigTIFF)
        b.add(256, .shorts([100]))
        b.add(257, .shorts([60]))
        b.add(258, .shorts([16]))
        b.add(259, .shorts([8]))
        b.add(277, .shorts([1]))
        b.add(322, .shorts([64]))
        b.add(323, .shorts([32]))
        b.add(339, .shorts([1]))
        b.add(33550, .doubles([10, 10, 0]))
        b.add(33922, .doubles([0, 0, 0, 500_000, 5_000_000, 0]))
        b.add(34735, .shorts([1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32632]))
        b.add(42113, .ascii("0"))
        b.add(325, .longs([16, 16, 16, 16]))
        b.add(324, .longs([0, 0, 0, 0]))  // placeholder: fixed below once the size is known
        let start = UInt32(b.dataStart)
        b.entries.removeLast()
        b.add(324, .longs([start, start + 16, start + 32, start + 48]))
        b.trailing = [UInt8](repeating: 7, count: 64)
        return b
    }
}
