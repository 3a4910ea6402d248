import CubeGrid
import GDALKit

/// A target grid's identity for caching: its pixel lattice. The chunk size is left out because
/// it does not move any pixel.
struct TargetKey: Hashable {
    let crs: String
    let resolutionX, resolutionY: Double
    let ix0, iy0, width, height: Int

    init(_ box: GeoBox) {
        crs = box.crs.definition
        resolutionX = box.resolutionX
        resolutionY = box.resolutionY
        (ix0, iy0, width, height) = (box.ix0, box.iy0, box.width, box.height)
    }
}

/// A source raster's pixel lattice: CRS (as the file's WKT), north-up geotransform, size.
/// Sentinel-2 bands of one MGRS tile share it at 10 m; the 20 m SCL differs only in pixel size.
public struct SourceGrid: Hashable, Sendable {
    public let crsWKT: String
    /// Geotransform terms: x = originX + col * pixelWidth, y = originY + row * pixelHeight
    /// (pixelHeight < 0, north up).
    public let originX, pixelWidth, originY, pixelHeight: Double
    public let width, height: Int

    public init(crsWKT: String, geoTransform gt: GeoTransform, width: Int, height: Int) {
        self.crsWKT = crsWKT
        (originX, pixelWidth, originY, pixelHeight) = (gt.a, gt.b, gt.d, gt.f)
        (self.width, self.height) = (width, height)
    }
}

/// Centres of the target's pixels in one source CRS: the part of the mapping shared by every
/// scene of that CRS (all tiles of a UTM zone, 10 m and 20 m bands alike).
struct CentresKey: Hashable {
    let target: TargetKey
    let sourceCRS: String
}

/// The integer pixel map: additionally depends on the source geotransform and size.
struct IndexMapKey: Hashable {
    let target: TargetKey
    let source: SourceGrid
}

struct TransformKey: Hashable {
    let targetCRS: String
    let sourceCRS: String
}

struct EPSGMatchKey: Hashable {
    let code: Int
    let wkt: String
}
