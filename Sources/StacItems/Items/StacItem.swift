import CubeCore
import Foundation

/// One Sentinel-2-like STAC item, reduced to what the cube needs.
public struct StacItem: Sendable, Equatable {
    public var id: String
    public var collection: String?
    public var bbox: LonLatBBox
    public var footprint: LonLatFootprint
    public var datetime: Date
    public var created: Date?
    public var updated: Date?
    public var cloudCover: Double?
    /// The item-level CRS code (`EPSG:32632`), from `proj:code` or `proj:epsg`.
    public var projCode: String?
    /// `s2:processing_baseline`, e.g. `05.10`.
    public var processingBaseline: String?
    /// `earthsearch:boa_offset_applied`: the -1000 DN offset was already removed from the pixels.
    public var boaOffsetApplied: Bool?
    /// Tile id such as `MGRS-32TNS` (from `grid:code` or the `mgrs:*` fields, zone without
    /// leading zeros so both forms agree).
    public var gridCode: String?
    public var assets: [String: StacAsset]

    /// The key that identifies "the same scene footprint": MGRS tile, else CRS + grid.
    /// Reprocessed copies of a scene share it (and the datetime).
    public var tileKey: String {
        if let gridCode { return gridCode }
        let grid = assets.keys.sorted().lazy.compactMap { key -> String? in
            guard let t = self.assets[key]?.transform else { return nil }
            return t.map { String($0) }.joined(separator: ",")
        }.first
        if let code = projCode ?? assets.values.lazy.compactMap(\.projCode).first, let grid {
            return "\(code)|\(grid)"
        }
        return "id:\(id)"  // nothing to compare with: never a duplicate
    }

    /// The observation time on the solar clock at the footprint's centroid, as whole days
    /// since 1970-01-01 (odc-stac `groupby="solar_day"`).
    public var solarDay: Int {
        let lon = footprint.centroid?.lon ?? (bbox.west + bbox.east) / 2
        let local = datetime.timeIntervalSince1970 + lon / 15 * 3600
        return Int(floor(local / 86400))
    }
}

/// One asset (a band file or a sidecar).
public struct StacAsset: Sendable, Equatable {
    /// An http(s) or s3 URL, or for local catalogs an absolute file path.
    public var href: String
    public var type: String?
    public var roles: [String]
    /// `proj:shape` as [rows, columns].
    public var shape: [Int]?
    /// `proj:transform` in STAC / rasterio affine order [a, b, c, d, e, f]:
    /// x = a*col + b*row + c, y = d*col + e*row + f (the 3rd row of a 9-element form is dropped).
    public var transform: [Double]?
    /// The asset's CRS code, falling back to the item's (`EPSG:32632`).
    public var projCode: String?
    public var bands: [RasterBand]
    /// DN to add so pixels match the pre-2022 scale: `round(offset / scale)` of the first band
    /// (-1000 for offset -0.1, scale 0.0001), or 0 when the item says the offset was applied.
    public var harmonisationShiftDN: Int
    /// `classification:bitfields` (a QA asset's bit layout), empty when not given.
    public var bitfields: [BitField] = []

    /// The same grid as a GDAL geotransform [c, a, b, f, d, e].
    public var gdalGeoTransform: [Double]? {
        guard let t = transform, t.count >= 6 else { return nil }
        return [t[2], t[0], t[1], t[5], t[3], t[4]]
    }

    /// EPSG number when `projCode` is an EPSG code.
    public var epsg: Int? { projCode.flatMap(epsgNumber) }
}

/// One `classification:bitfields` entry: `length` bits from bit `offset`, called `name`.
public struct BitField: Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var length: Int

    public init(name: String, offset: Int, length: Int) {
        self.name = name
        self.offset = offset
        self.length = length
    }
}

/// `raster:bands` entry.
public struct RasterBand: Sendable, Equatable {
    /// NaN when the catalog says "nan".
    public var nodata: Double?
    public var scale: Double?
    public var offset: Double?
    public var dataType: String?
}

func epsgNumber(_ code: String) -> Int? {
    let upper = code.uppercased()
    guard upper.hasPrefix("EPSG:") else { return nil }
    return Int(upper.dropFirst(5))
}
