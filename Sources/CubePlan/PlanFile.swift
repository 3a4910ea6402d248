import CubeCore
import CubeGrid
import Foundation

/// The plan as stored at `_cube/plan.json`: the grid, the time bins, and the land chunks as a
/// packed bitmap (row-major over chunk rows and columns, least significant bit first, base64).
extension Plan {
    public static let storeKey = StoreKeys.plan

    struct File: Codable {
        var format_version: Int
        var grid: GeoBox
        var time_bins: [Bin]
        var chunk_rows: Int
        var chunk_cols: Int
        var land_chunks: Int
        var ocean_chunks: Int
        var jobs: Int
        var land_mask: String
        var land_bitmap: String

        struct Bin: Codable {
            var label: String
            var start: String
            var end: String
        }
    }

    public func encoded() throws -> Data {
        var bits = [UInt8](repeating: 0, count: (land.count + 7) / 8)
        for (i, isLand) in land.enumerated() where isLand { bits[i >> 3] |= 1 << UInt8(i & 7) }
        let iso = Plan.isoFormatter
        let file = File(format_version: Plan.formatVersion, grid: grid,
                        time_bins: bins.map { File.Bin(label: $0.label, start: iso.string(from: $0.start), end: iso.string(from: $0.end)) },
                        chunk_rows: grid.chunkRows, chunk_cols: grid.chunkCols,
                        land_chunks: landChunkCount, ocean_chunks: oceanChunkCount, jobs: jobCount,
                        land_mask: landMaskDescription, land_bitmap: Data(bits).base64EncodedString())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(file)
    }

    public static func decode(_ data: Data) throws -> Plan {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw PlanError("plan file is not readable: \(error)")
        }
        guard file.format_version == formatVersion else {
            throw PlanError("plan format \(file.format_version) is not supported by this cube (expects \(formatVersion))")
        }
        guard let bits = Data(base64Encoded: file.land_bitmap), bits.count == (file.grid.chunkCount + 7) / 8 else {
            throw PlanError("plan land bitmap does not match the grid")
        }
        let land = (0..<file.grid.chunkCount).map { bits[$0 >> 3] & (1 << UInt8($0 & 7)) != 0 }
        var bins: [TimeBin] = []
        for (i, b) in file.time_bins.enumerated() {
            guard let s = isoFormatter.date(from: b.start), let e = isoFormatter.date(from: b.end) else {
                throw PlanError("plan time bin \(b.label) has unreadable dates")
            }
            bins.append(TimeBin(index: i, start: s, end: e, label: b.label))
        }
        return Plan(grid: file.grid, bins: bins, land: land, landMaskDescription: file.land_mask)
    }

    static var isoFormatter: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}

public struct PlanError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
