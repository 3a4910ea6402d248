import Composite
import CubeCore
import Foundation
import Sensors

/// Everything a cube build needs, as validated from a `cubes/*.yaml` file.
public struct CubeSpec: Equatable, Sendable {
    public var name: String
    public var stac: StacSpec
    public var grid: GridSpec
    public var time: TimeSpec
    public var bands: [BandSpec]
    /// One entry per collection read, each with its sensor profile and mask (one for most cubes).
    public var sensors: [SensorSpec]
    /// Which scene of a solar day gives a pixel its values.
    public var fuse: FusionRule
    /// The statistics of the composite, canonical names in spec order ("median", "p10", ...).
    public var composite: [String]
    /// Spectral indices per observation, reduced by the composite's per-band statistics.
    public var indices: [IndexSpec]
    public var resampling: Resampling
    /// Which COG overview level each scene asset is read from (`none`: full resolution).
    public var overviews: Overviews
    public var landMask: LandMaskSource
    public var store: String
    public var zarrFormat: Int
    public var compression: CompressionSpec
    /// Whether `cube run` adds coarser levels (2x, 4x, ...) under the GeoZarr multiscales
    /// convention once the base level is complete.
    public var pyramid: Bool

    /// Directory relative paths in the spec (local items, land mask) are resolved against.
    public var baseDirectory: URL
    /// The YAML text the spec came from, kept with the store as provenance.
    public var sourceText: String

    public init(name: String, stac: StacSpec, grid: GridSpec, time: TimeSpec, bands: [BandSpec],
                mask: MaskSpec = MaskSpec(), sensors: [SensorSpec]? = nil, fuse: FusionRule = .firstData, composite: [String] = ["median"],
                indices: [IndexSpec] = [], resampling: Resampling = .nearest, overviews: Overviews = .none, landMask: LandMaskSource = .embedded,
                store: String, zarrFormat: Int = 3, compression: CompressionSpec = .default, pyramid: Bool = false,
                baseDirectory: URL = URL(fileURLWithPath: "."), sourceText: String = "") {
        self.name = name
        self.stac = stac
        self.grid = grid
        self.time = time
        self.bands = bands
        self.sensors = sensors ?? [SensorSpec(collection: stac.collections.first ?? "", profileID: Sentinel2L2A().id,
                                              mask: mask)]
        self.fuse = fuse
        self.composite = composite
        self.indices = indices
        self.resampling = resampling
        self.overviews = overviews
        self.landMask = landMask
        self.store = store
        self.zarrFormat = zarrFormat
        self.compression = compression
        self.pyramid = pyramid
        self.baseDirectory = baseDirectory
        self.sourceText = sourceText
    }
}

/// One spectral index: its array name and its expression over the spec's band names.
public struct IndexSpec: Equatable, Sendable {
    public var name: String
    public var expression: String

    public init(name: String, expression: String) {
        self.name = name
        self.expression = expression
    }
}

public enum StacSpec: Equatable, Sendable {
    /// A STAC API (item search) and the collections to search (at least one).
    case api(url: String, collections: [String], maxCloudCover: Double?)
    /// A local STAC ItemCollection (.json) or ndjson file; no collections keeps every item.
    case file(path: String, collections: [String], maxCloudCover: Double?)

    public var maxCloudCover: Double? {
        switch self {
        case .api(_, _, let c), .file(_, _, let c): return c
        }
    }

    public var collections: [String] {
        switch self {
        case .api(_, let c, _), .file(_, let c, _): return c
        }
    }
}

/// One sensor of a cube: the collection read, the profile that reads it, and its mask.
public struct SensorSpec: Equatable, Sendable {
    /// The STAC collection ("" for a local file without `collection`: every item).
    public var collection: String
    /// The `SensorProfile` id.
    public var profileID: String
    public var mask: MaskSpec

    public init(collection: String, profileID: String, mask: MaskSpec) {
        self.collection = collection
        self.profileID = profileID
        self.mask = mask
    }

    public var profile: any SensorProfile { SensorProfiles.named(profileID) ?? Sentinel2L2A() }
}

public struct GridSpec: Equatable, Sendable {
    /// As the user wrote it: "EPSG:4326", "32632", WKT or a PROJ string.
    public var crs: String
    public var resolutionX: Double
    public var resolutionY: Double
    /// minx, miny, maxx, maxy in `bboxCRS` units.
    public var bbox: [Double]
    public var bboxCRS: BBoxCRS
    /// Spatial chunk edge in pixels: what one job builds and writes.
    public var chunk: Int
    /// With Zarr v3, each job's chunk becomes a shard of `innerChunk`² pieces that readers
    /// fetch alone (nil: one piece per chunk, as before).
    public var innerChunk: Int?

    public init(crs: String, resolutionX: Double, resolutionY: Double, bbox: [Double],
                bboxCRS: BBoxCRS = .lonLat, chunk: Int, innerChunk: Int? = nil) {
        self.crs = crs
        self.resolutionX = resolutionX
        self.resolutionY = resolutionY
        self.bbox = bbox
        self.bboxCRS = bboxCRS
        self.chunk = chunk
        self.innerChunk = innerChunk
    }
}

public enum BBoxCRS: String, Equatable, Sendable {
    case lonLat = "lonlat"
    case grid
}

public struct TimeSpec: Equatable, Sendable {
    /// UTC instant the first bin starts at.
    public var start: Date
    /// UTC instant of the last moment covered: bins are made while their start is <= end.
    public var end: Date
    public var step: TimeStep

    public init(start: Date, end: Date, step: TimeStep = .months(1)) {
        self.start = start
        self.end = end
        self.step = step
    }
}

public enum TimeStep: Equatable, Sendable, CustomStringConvertible {
    case months(Int)
    case days(Int)

    public var description: String {
        switch self {
        case .months(let n): return n == 1 ? "1 month" : "\(n) months"
        case .days(let n): return n == 1 ? "1 day" : "\(n) days"
        }
    }
}

public struct BandSpec: Equatable, Sendable {
    /// STAC asset key (red, green, nir, ...).
    public var asset: String
    /// Array name in the cube.
    public var name: String

    public init(asset: String, name: String? = nil) {
        self.asset = asset
        self.name = name ?? asset
    }
}

public struct MaskSpec: Equatable, Sendable {
    public static let defaultInvalid: [Int] = [0, 1, 3, 8, 9, 10]
    /// nil: the sensor has no mask asset (`ValueDomain.maskAsset`).
    public var asset: String?
    /// Invalid classes (Sentinel-2 SCL) or bits (Landsat QA), per the sensor's profile.
    public var invalid: [Int]
    /// Morphological filters of each observation's mask, in order (`filters: [[opening, 2]]`).
    public var filters: MaskFilters

    public init(asset: String? = "scl", invalid: [Int] = MaskSpec.defaultInvalid, filters: MaskFilters = .none) {
        self.asset = asset
        self.invalid = invalid
        self.filters = filters
    }
}

public enum LandMaskSource: Equatable, Sendable {
    /// The GLOBE 30" land raster that ships with cube.
    case embedded
    /// Every chunk is built.
    case none
    /// A raster (1 = land) or vector (land polygons) file.
    case path(String)
}

public enum CompressionCodec: String, Equatable, Sendable, CaseIterable {
    case bloscZstd = "blosc"
    case zstd
}

public struct CompressionSpec: Equatable, Sendable {
    public static let `default` = CompressionSpec(codec: .bloscZstd, level: 5)
    public var codec: CompressionCodec
    public var level: Int

    public init(codec: CompressionCodec, level: Int) {
        self.codec = codec
        self.level = level
    }
}

extension CubeSpec {
    /// The first sensor's mask (the only one in a single-sensor cube).
    public var mask: MaskSpec { sensors[0].mask }

    /// How far around a chunk its mask filters look (the widest sensor's `filters.halo`; 0
    /// without filters): a job reads the scenes, and builds the observations, of its chunk
    /// grown by this many pixels.
    public var maskFilterHalo: Int { sensors.map { $0.mask.filters.isEmpty ? 0 : $0.mask.filters.halo }.max() ?? 0 }

    /// The sensor reading items of `collection` (nil: a local file's item without one).
    public func sensor(for collection: String?) -> SensorSpec? {
        sensors.first { $0.collection == (collection ?? "") } ?? sensors.first { $0.collection.isEmpty }
            ?? (sensors.count == 1 && collection == nil ? sensors[0] : nil)
    }

    /// What the cube's values are: the sensors' common `ValueDomain` (the loader refuses a
    /// mixed cube whose sensors' cube values differ).
    public var valueDomain: ValueDomain { sensors[0].profile.valueDomain }

    /// The asset keys band by band for one sensor (the spec validated that each exists).
    public func bandAssets(_ sensor: SensorSpec) -> [String] {
        bands.map { sensor.profile.asset(forBand: $0.asset) ?? $0.asset }
    }

    /// Every asset a scene of any sensor may be read from: masks, then bands.
    public var assetKeys: [String] {
        var keys: [String] = []
        for sensor in sensors {
            for key in [sensor.mask.asset].compactMap({ $0 }) + bandAssets(sensor) where !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    /// Short names of the sensors when there are several (`count_<name>` arrays), else empty.
    public var sensorCountNames: [String] {
        sensors.count > 1 ? sensors.map { "count_\($0.profile.shortName)" } : []
    }

    /// The composite's statistics and the arrays they write, for these bands, typed by the
    /// cube's value domain (a float32 domain declares its band arrays float32, decoded).
    public var recipe: CompositeRecipe {
        // The names (and the statistics a float32 domain allows) were validated when the spec was parsed.
        (try? CompositeRecipe(statistics: composite, bands: bands.map(\.name),
                              indices: indices.map { ($0.name, $0.expression) }, domain: valueDomain))
            ?? .median(bands: bands.map(\.name))
    }

    /// `path` as an absolute, normalised path: relative paths in a spec are relative to the
    /// spec's folder (made absolute against the current directory when that is relative).
    public func resolvePath(_ path: String) -> String {
        CubeSpec.resolve(path, against: baseDirectory)
    }

    public static func resolve(_ path: String, against base: URL) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        var dir = base.path
        if !dir.hasPrefix("/") {
            dir = FileManager.default.currentDirectoryPath + "/" + dir
        }
        return URL(fileURLWithPath: dir, isDirectory: true).appendingPathComponent(path).standardizedFileURL.path
    }

    /// A canonical text of everything that shapes the cube's schema and content (not the store
    /// location or the description): two specs with the same fingerprint build the same cube.
    public var fingerprint: String {
        var lines: [String] = []
        lines.append("name=\(name)")
        switch stac {
        case .api(let url, let collections, let cloud):
            lines.append("stac.api=\(url) collection=\(collections.joined(separator: ",")) max_cloud_cover=\(cloud.map { "\($0)" } ?? "-")")
        case .file(let path, let collections, let cloud):
            let abs = resolvePath(path)
            let c = collections.isEmpty ? "-" : collections.joined(separator: ",")
            lines.append("stac.items=\(abs) collection=\(c) max_cloud_cover=\(cloud.map { "\($0)" } ?? "-")")
        }
        lines.append("grid.crs=\(grid.crs) res=\(grid.resolutionX.bitPattern),\(grid.resolutionY.bitPattern) bbox=\(grid.bbox.map { "\($0.bitPattern)" }.joined(separator: ",")) bbox_crs=\(grid.bboxCRS.rawValue) chunk=\(grid.chunk)")
        lines.append("time=\(time.start.timeIntervalSince1970)..\(time.end.timeIntervalSince1970) step=\(time.step)")
        lines.append("bands=\(bands.map { "\($0.asset):\($0.name)" }.joined(separator: ","))")
        // One sensor (Sentinel-2 unless said otherwise) keeps the line cubes have always had.
        for (i, sensor) in sensors.enumerated() {
            let prefix = i == 0 && sensor.profileID == Sentinel2L2A().id ? "" : "[\(sensor.collection):\(sensor.profileID)]"
            // Filters only when given, so older specs keep their fingerprint.
            let filters = sensor.mask.filters.steps.isEmpty ? ""
                : " filters=" + sensor.mask.filters.steps.map { "\($0.operation.rawValue):\($0.radius)" }.joined(separator: ",")
            lines.append("mask\(prefix)=\(sensor.mask.asset ?? "none"):\(sensor.mask.invalid.map(String.init).joined(separator: ","))\(filters)")
        }
        lines.append("fuse=\(fuse.rawValue) composite=\(composite.joined(separator: ",")) resampling=\(resampling.rawValue)")
        // Only cubes reading overview levels get the line, so older specs keep their fingerprint.
        if overviews != .none { lines.append("overviews=\(overviews)") }
        // Only cubes with indices get the line, so older specs keep their fingerprint.
        if !indices.isEmpty { lines.append("indices=\(indices.map { "\($0.name)=\($0.expression)" }.joined(separator: ";"))") }
        switch landMask {
        case .embedded: lines.append("land_mask=embedded")
        case .none: lines.append("land_mask=none")
        case .path(let p): lines.append("land_mask=\(p)")
        }
        lines.append("zarr_format=\(zarrFormat) compression=\(compression.codec.rawValue):\(compression.level)")
        return lines.joined(separator: "\n")
    }
}
