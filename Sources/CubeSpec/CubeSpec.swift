import Composite
import Foundation

/// Everything a cube build needs, as validated from a `cubes/*.yaml` file.
public struct CubeSpec: Equatable, Sendable {
    public var name: String
    public var stac: StacSpec
    public var grid: GridSpec
    public var time: TimeSpec
    public var bands: [BandSpec]
    public var mask: MaskSpec
    /// Which scene of a solar day gives a pixel its values.
    public var fuse: SameDayFusion
    /// The statistics of the composite, canonical names in spec order ("median", "p10", ...).
    public var composite: [String]
    public var resampling: Resampling
    public var landMask: LandMaskSource
    public var store: String
    public var zarrFormat: Int
    public var compression: CompressionSpec

    /// Directory relative paths in the spec (local items, land mask) are resolved against.
    public var baseDirectory: URL
    /// The YAML text the spec came from, kept with the store as provenance.
    public var sourceText: String

    public init(name: String, stac: StacSpec, grid: GridSpec, time: TimeSpec, bands: [BandSpec],
                mask: MaskSpec = MaskSpec(), fuse: SameDayFusion = .firstData, composite: [String] = ["median"],
                resampling: Resampling = .nearest, landMask: LandMaskSource = .embedded,
                store: String, zarrFormat: Int = 3, compression: CompressionSpec = .default,
                baseDirectory: URL = URL(fileURLWithPath: "."), sourceText: String = "") {
        self.name = name
        self.stac = stac
        self.grid = grid
        self.time = time
        self.bands = bands
        self.mask = mask
        self.fuse = fuse
        self.composite = composite
        self.resampling = resampling
        self.landMask = landMask
        self.store = store
        self.zarrFormat = zarrFormat
        self.compression = compression
        self.baseDirectory = baseDirectory
        self.sourceText = sourceText
    }
}

public enum StacSpec: Equatable, Sendable {
    /// A STAC API (item search) and the collection to search.
    case api(url: String, collection: String, maxCloudCover: Double?)
    /// A local STAC ItemCollection (.json) or ndjson file.
    case file(path: String, collection: String?, maxCloudCover: Double?)

    public var maxCloudCover: Double? {
        switch self {
        case .api(_, _, let c), .file(_, _, let c): return c
        }
    }
}

public struct GridSpec: Equatable, Sendable {
    /// As the user wrote it: "EPSG:4326", "32632", WKT or a PROJ string.
    public var crs: String
    public var resolutionX: Double
    public var resolutionY: Double
    /// minx, miny, maxx, maxy in `bboxCRS` units.
    public var bbox: [Double]
    public var bboxCRS: BBoxCRS
    /// Spatial chunk edge in pixels.
    public var chunk: Int

    public init(crs: String, resolutionX: Double, resolutionY: Double, bbox: [Double],
                bboxCRS: BBoxCRS = .lonLat, chunk: Int) {
        self.crs = crs
        self.resolutionX = resolutionX
        self.resolutionY = resolutionY
        self.bbox = bbox
        self.bboxCRS = bboxCRS
        self.chunk = chunk
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
    public var asset: String
    public var invalid: [Int]

    public init(asset: String = "scl", invalid: [Int] = MaskSpec.defaultInvalid) {
        self.asset = asset
        self.invalid = invalid
    }
}

/// Solar-day fusion of overlapping tiles of one pass (see `Composite.FusionRule`).
public enum SameDayFusion: String, Equatable, Sendable, CaseIterable {
    /// The first scene with data at a pixel decides (odc-stac's `groupby="solar_day"`).
    case firstData = "first-data"
    /// The first scene valid at a pixel gives its values.
    case firstValid = "first-valid"
}

public enum Resampling: String, Equatable, Sendable, CaseIterable {
    case nearest, bilinear, average
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
    /// The composite's statistics and the arrays they write, for these bands.
    public var recipe: CompositeRecipe {
        // The names were validated when the spec was parsed.
        (try? CompositeRecipe(statistics: composite, bands: bands.map(\.name))) ?? .median(bands: bands.map(\.name))
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
        case .api(let url, let collection, let cloud):
            lines.append("stac.api=\(url) collection=\(collection) max_cloud_cover=\(cloud.map { "\($0)" } ?? "-")")
        case .file(let path, let collection, let cloud):
            let abs = resolvePath(path)
            lines.append("stac.items=\(abs) collection=\(collection ?? "-") max_cloud_cover=\(cloud.map { "\($0)" } ?? "-")")
        }
        lines.append("grid.crs=\(grid.crs) res=\(grid.resolutionX.bitPattern),\(grid.resolutionY.bitPattern) bbox=\(grid.bbox.map { "\($0.bitPattern)" }.joined(separator: ",")) bbox_crs=\(grid.bboxCRS.rawValue) chunk=\(grid.chunk)")
        lines.append("time=\(time.start.timeIntervalSince1970)..\(time.end.timeIntervalSince1970) step=\(time.step)")
        lines.append("bands=\(bands.map { "\($0.asset):\($0.name)" }.joined(separator: ","))")
        lines.append("mask=\(mask.asset):\(mask.invalid.map(String.init).joined(separator: ","))")
        lines.append("fuse=\(fuse.rawValue) composite=\(composite.joined(separator: ",")) resampling=\(resampling.rawValue)")
        switch landMask {
        case .embedded: lines.append("land_mask=embedded")
        case .none: lines.append("land_mask=none")
        case .path(let p): lines.append("land_mask=\(p)")
        }
        lines.append("zarr_format=\(zarrFormat) compression=\(compression.codec.rawValue):\(compression.level)")
        return lines.joined(separator: "\n")
    }
}
