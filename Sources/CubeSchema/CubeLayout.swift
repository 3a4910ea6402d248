import CubeGrid
import CubePlan
import CubeSpec
import Foundation
import Zarr

/// Where everything lives in a cube store, and the Zarr metadata of each array: shared by
/// `cube init` (which writes the schema) and the workers (which write chunks into it).
public struct CubeLayout: Sendable {
    public static let countArray = "count"
    public static let timeArray = "time"
    public static let timeBoundsArray = "time_bnds"
    public static let gridMappingArray = "spatial_ref"
    /// Bookkeeping folder (spec, plan, build record, done records). It is also an empty Zarr
    /// group, so readers listing the root without consolidated metadata meet only Zarr nodes.
    public static let bookkeepingGroup = "_cube"
    public static let specKey = "_cube/spec.yaml"
    public static let buildKey = "_cube/build.json"

    public let format: ZarrFormat
    public let compression: Compression
    public let bandNames: [String]
    public let plan: Plan

    public init(spec: CubeSpec, plan: Plan) {
        format = spec.zarrFormat == 2 ? .v2 : .v3
        switch spec.compression.codec {
        case .bloscZstd: compression = .bloscZstd(level: spec.compression.level)
        case .zstd: compression = .zstd(level: spec.compression.level)
        }
        bandNames = spec.bands.map(\.name)
        self.plan = plan
    }

    public var grid: GeoBox { plan.grid }

    /// `latitude`/`longitude` for a geographic CRS (what CF readers expect), else `y`/`x`.
    public var yName: String { grid.crs.isGeographic ? "latitude" : "y" }
    public var xName: String { grid.crs.isGeographic ? "longitude" : "x" }

    /// Every (time, y, x) array a chunk job writes: the bands, then `count`.
    public var dataArrays: [String] { bandNames + [CubeLayout.countArray] }

    public func dataArrayMetadata(_ name: String, attributes: [String: JSONValue] = [:]) -> ArrayMetadata {
        ArrayMetadata(shape: [plan.bins.count, grid.height, grid.width], chunks: [1, grid.chunk, grid.chunk],
                      dataType: .uint16, fillValue: .zero,
                      dimensionNames: [CubeLayout.timeArray, yName, xName],
                      attributes: attributes, compression: compression)
    }

    /// Store key of one chunk of a data array.
    public func chunkKey(array: String, bin: Int, cy: Int, cx: Int) throws -> String {
        try ChunkKey.key(format: format, arrayPath: array, metadata: dataArrayMetadata(array), chunkIndex: [bin, cy, cx])
    }
}
