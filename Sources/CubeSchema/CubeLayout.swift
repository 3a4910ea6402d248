import Composite
import CubeCore
import CubeGrid
import CubePlan
import CubeSpec
import Foundation
import JSON
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
    public static let bookkeepingGroup = StoreKeys.folder
    public static let specKey = StoreKeys.spec
    public static let buildKey = StoreKeys.build

    public let format: ZarrFormat
    public let compression: Compression
    public let bandNames: [String]
    /// The composite's arrays, from its statistics' declarations (names, types, meaning).
    public let outputs: [OutputDeclaration]
    /// Per-sensor count arrays of a mixed cube (`count_sentinel2`, `count_landsat`), in sensor order.
    public let sensorCounts: [String]
    public let plan: Plan
    /// Inner chunk edge of sharded arrays (Zarr v3 `sharding_indexed`), nil when unsharded.
    public let innerChunk: Int?
    /// The pyramid's levels; only the base (level 0) when the spec asks for none.
    public let levels: [PyramidLevel]
    /// Whether the cube has a multiscale pyramid: then level L lives in the group "L" (the
    /// base in "0"), as the GeoZarr multiscales convention lays levels out; else at the root.
    public let hasPyramid: Bool

    public init(spec: CubeSpec, plan: Plan) {
        format = spec.zarrFormat == 2 ? .v2 : .v3
        switch spec.compression.codec {
        case .bloscZstd: compression = .bloscZstd(level: spec.compression.level)
        case .zstd: compression = .zstd(level: spec.compression.level)
        }
        bandNames = spec.bands.map(\.name)
        outputs = spec.recipe.outputs
        sensorCounts = spec.sensorCountNames
        self.plan = plan
        innerChunk = spec.grid.innerChunk
        hasPyramid = spec.pyramid
        levels = spec.pyramid ? PyramidLevel.all(base: plan.grid) : [PyramidLevel(base: plan.grid, level: 0)]
    }

    /// The group of a pyramid level ("" = the root).
    public func levelGroup(_ level: Int) -> String { hasPyramid ? "\(level)" : "" }

    /// The path of an array of a level.
    public func arrayPath(_ name: String, level: Int = 0) -> String {
        let group = levelGroup(level)
        return group.isEmpty ? name : group + "/" + name
    }

    public var grid: GeoBox { plan.grid }

    /// `latitude`/`longitude` for a geographic CRS (what CF readers expect), else `y`/`x`.
    public var yName: String { grid.crs.isGeographic ? "latitude" : "y" }
    public var xName: String { grid.crs.isGeographic ? "longitude" : "x" }

    /// Every (time, y, x) array a chunk job writes: the composite's outputs, then `count`.
    public var dataArrays: [String] { outputs.map(\.name) + [CubeLayout.countArray] + sensorCounts }

    /// The element type of a data array: uint16 (0 = no data) unless a statistic declares
    /// float32 (NaN) or int32 (`OutputType.int32Fill`).
    public func dataType(of name: String) -> DataType {
        switch outputs.first(where: { $0.name == name })?.type {
        case .float32: return .float32
        case .int32: return .int32
        case .uint16, nil: return .uint16
        }
    }

    /// The fill value of a data array of `type` (what "no data" is stored as).
    public static func fillValue(_ type: DataType) -> FillValue {
        switch type {
        case .float32: return .float(.nan)
        case .int32: return .integer(Int64(OutputType.int32Fill))
        default: return .zero
        }
    }

    /// A data array's metadata; `bins` is the time length readers see (default: every bin of
    /// the plan, the shape chunk keys are checked against).
    public func dataArrayMetadata(_ name: String, level: Int = 0, attributes: [String: JSONValue] = [:],
                                  bins: Int? = nil) -> ArrayMetadata {
        let type = dataType(of: name)
        let l = levels[level]
        var meta = ArrayMetadata(shape: [bins ?? plan.bins.count, l.height, l.width], chunks: [1, l.chunk, l.chunk],
                                 dataType: type, fillValue: Self.fillValue(type),
                                 dimensionNames: [CubeLayout.timeArray, yName, xName],
                                 attributes: attributes, compression: compression)
        if let inner = innerChunk { meta.innerChunks = [1, inner, inner] }
        return meta
    }

    /// Store key of one chunk of a data array.
    public func chunkKey(array: String, level: Int = 0, bin: Int, cy: Int, cx: Int) throws -> String {
        try ChunkKey.key(format: format, arrayPath: arrayPath(array, level: level),
                         metadata: dataArrayMetadata(array, level: level), chunkIndex: [bin, cy, cx])
    }
}
