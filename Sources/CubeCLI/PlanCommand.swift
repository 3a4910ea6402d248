import ArgumentParser
import CubeGrid
import CubePlan
import CubeSpec
import Foundation
import GDALKit

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show the grid, chunks and jobs a spec describes, without writing the cube.",
        discussion: """
        Land chunks are built; chunks with no land under them (by the spec's land mask) are \
        skipped as ocean. Jobs = land chunks × time bins.
        """
    )

    @Argument(help: "The cube spec (YAML).")
    var spec: String

    @Option(name: .customLong("png"), help: "Also render a map of land (green) and ocean (blue) chunks to this PNG file.")
    var png: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let spec = try loadSpec(spec, store: nil)
            let started = Date()
            let plan = try Plan.make(spec)
            let seconds = Date().timeIntervalSince(started)
            if let png { try PlanMap.write(plan, to: png) }
            if json {
                print(String(decoding: try PlanSummary(plan: plan, seconds: seconds).json(), as: UTF8.self))
            } else {
                print(PlanSummary(plan: plan, seconds: seconds).text)
                if let png { print("map:          \(png)") }
            }
        }
    }
}

struct PlanSummary: Encodable {
    var crs: String
    var resolution: [Double]
    var width: Int
    var height: Int
    var chunk: Int
    var chunk_rows: Int
    var chunk_cols: Int
    var chunks_total: Int
    var chunks_land: Int
    var chunks_ocean: Int
    var time_bins: Int
    var first_bin: String
    var last_bin: String
    var jobs_per_bin: Int
    var jobs_total: Int
    var land_mask: String
    var seconds: Double

    init(plan: Plan, seconds: Double) {
        let g = plan.grid
        crs = g.crs.description
        resolution = [g.resolutionX, g.resolutionY]
        (width, height, chunk) = (g.width, g.height, g.chunk)
        (chunk_rows, chunk_cols, chunks_total) = (g.chunkRows, g.chunkCols, g.chunkCount)
        chunks_land = plan.landChunkCount
        chunks_ocean = plan.oceanChunkCount
        time_bins = plan.bins.count
        first_bin = plan.bins.first?.label ?? "-"
        last_bin = plan.bins.last?.label ?? "-"
        jobs_per_bin = plan.landChunkCount
        jobs_total = plan.jobCount
        land_mask = plan.landMaskDescription
        self.seconds = (seconds * 1000).rounded() / 1000
    }

    func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    var text: String {
        """
        grid:         \(width) x \(height) pixels, \(crs), resolution \(fmt(resolution[0])) x \(fmt(resolution[1]))
        chunks:       \(chunk) x \(chunk) pixels, \(chunk_rows) rows x \(chunk_cols) columns = \(chunks_total)
        land chunks:  \(chunks_land) (build)
        ocean chunks: \(chunks_ocean) (skip)
        time bins:    \(time_bins) (\(first_bin) .. \(last_bin))
        jobs:         \(jobs_per_bin) per time bin, \(jobs_total) in total
        land mask:    \(land_mask)
        planned in:   \(String(format: "%.2f", seconds)) s
        """
    }

    func fmt(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.10g", v)
    }
}

/// A picture of the plan: one pixel block per chunk, land green, ocean blue.
enum PlanMap {
    static func write(_ plan: Plan, to path: String) throws {
        let g = plan.grid
        // Scale so the map is at most ~1024 pixels on its longer side, at least 1 pixel per chunk.
        let scale = max(1, 1024 / max(g.chunkRows, g.chunkCols))
        let w = g.chunkCols * scale, h = g.chunkRows * scale
        var r = [UInt8](repeating: 0, count: w * h), gr = r, b = r
        for y in 0..<h {
            for x in 0..<w {
                let land = plan.isLand(cy: y / scale, cx: x / scale)
                let edge = scale >= 4 && (x % scale == 0 || y % scale == 0)
                let i = y * w + x
                (r[i], gr[i], b[i]) = land ? (edge ? (40, 110, 40) : (70, 160, 70)) : (edge ? (20, 50, 110) : (30, 80, 160))
            }
        }
        try MemoryRaster.writePNG(path: path, width: w, height: h, planes: [r, gr, b])
    }
}
