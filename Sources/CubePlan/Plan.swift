import CubeGrid
import CubeSpec
import Foundation

/// Which spatial chunks of the cube are built (land) and which are skipped (pure ocean), for
/// every time bin. Written by `cube init` into the store so any machine can read it.
public struct Plan: Equatable, Sendable {
    public static let formatVersion = 1

    public let grid: GeoBox
    public let bins: [TimeBin]
    /// Row-major over (chunk row, chunk column): true = land, build it.
    public let land: [Bool]
    /// What decided `land` ("GLOBE 30 arc-second land mask (embedded)", "none").
    public let landMaskDescription: String

    public init(grid: GeoBox, bins: [TimeBin], land: [Bool], landMaskDescription: String) {
        precondition(land.count == grid.chunkCount)
        self.grid = grid
        self.bins = bins
        self.land = land
        self.landMaskDescription = landMaskDescription
    }

    public var landChunkCount: Int { land.reduce(0) { $0 + ($1 ? 1 : 0) } }
    public var oceanChunkCount: Int { land.count - landChunkCount }
    public var jobCount: Int { landChunkCount * bins.count }

    public func isLand(cy: Int, cx: Int) -> Bool { land[cy * grid.chunkCols + cx] }

    /// Land chunks in row-major order.
    public var landChunks: [(cy: Int, cx: Int)] {
        var out: [(Int, Int)] = []
        out.reserveCapacity(landChunkCount)
        for cy in 0..<grid.chunkRows {
            for cx in 0..<grid.chunkCols where land[cy * grid.chunkCols + cx] { out.append((cy, cx)) }
        }
        return out
    }

    public static func == (a: Plan, b: Plan) -> Bool {
        a.grid == b.grid && a.bins == b.bins && a.land == b.land && a.landMaskDescription == b.landMaskDescription
    }
}

extension Plan {
    /// Plans a cube: grid and bins from the spec, land chunks from its land mask.
    public static func make(_ spec: CubeSpec, progress: ((Int, Int) -> Void)? = nil) throws -> Plan {
        let grid = try GeoBox.make(spec.grid)
        let bins = try TimeBins.make(spec.time)
        let footprint = try grid.lonLatFootprint(densify: 64)
        let mask = try LandMask.load(spec.landMask, baseDirectory: spec.baseDirectory,
                                     covering: (footprint.west, footprint.south, footprint.east, footprint.north))
        guard let mask else {
            return Plan(grid: grid, bins: bins, land: Array(repeating: true, count: grid.chunkCount),
                        landMaskDescription: "none")
        }
        let land = try LandChunks.classify(grid: grid, mask: mask, progress: progress)
        return Plan(grid: grid, bins: bins, land: land, landMaskDescription: mask.description)
    }
}
