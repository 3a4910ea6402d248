import CGDAL
import Foundation

/// A six-number affine geotransform in GDAL order: x = a + col*b + row*c, y = d + col*e + row*f.
public struct GeoTransform: Equatable, Sendable, Codable {
    public var a, b, c, d, e, f: Double
    public init(_ a: Double, _ b: Double, _ c: Double, _ d: Double, _ e: Double, _ f: Double) {
        (self.a, self.b, self.c, self.d, self.e, self.f) = (a, b, c, d, e, f)
    }
    public var array: [Double] { [a, b, c, d, e, f] }
    /// North-up, no rotation: the only kind the fast nearest path handles.
    public var isNorthUp: Bool { c == 0 && e == 0 && b > 0 && f < 0 }
}

/// A read-only raster dataset. Not thread safe (GDAL datasets are not): one per thread.
public final class Dataset {
    let handle: GDALDatasetH
    public let path: String

    /// Opens `path` read-only as a raster. `path` may be a local file or a GDAL virtual path
    /// (`/vsicurl/https://…`, `/vsis3/…`).
    public init(path: String, options: [String] = []) throws {
        GDAL.initialize()
        RecentErrors.clear()
        var opts = options
        let h = withCStringArray(&opts) { o in
            GDALOpenEx(path, UInt32(GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR), nil, o, nil)
        }
        guard let h else { throw GDALError.last("cannot open \(path)") }
        handle = h
        self.path = path
    }

    /// Takes ownership of a dataset handle GDAL returned (e.g. a MEM result of a warp).
    init(owning handle: GDALDatasetH, path: String) {
        self.handle = handle
        self.path = path
    }

    deinit { GDALClose(handle) }

    public var width: Int { Int(GDALGetRasterXSize(handle)) }
    public var height: Int { Int(GDALGetRasterYSize(handle)) }
    public var bandCount: Int { Int(GDALGetRasterCount(handle)) }

    public var geoTransform: GeoTransform? {
        var gt = [Double](repeating: 0, count: 6)
        guard GDALGetGeoTransform(handle, &gt) == CE_None else { return nil }
        return GeoTransform(gt[0], gt[1], gt[2], gt[3], gt[4], gt[5])
    }

    /// The CRS exactly as the file stores it (WKT); nil when the file has none. Identical text
    /// for files of one CRS, so it doubles as a cheap cache key.
    public var projectionWKT: String? {
        guard let wkt = GDALGetProjectionRef(handle).map({ String(cString: $0) }), !wkt.isEmpty else { return nil }
        return wkt
    }

    public var spatialReference: SpatialReference? {
        guard let wkt = GDALGetProjectionRef(handle).map({ String(cString: $0) }), !wkt.isEmpty else { return nil }
        return try? SpatialReference(wkt)
    }

    public func band(_ index: Int) throws -> RasterBand {
        guard index >= 1, index <= bandCount, let b = GDALGetRasterBand(handle, Int32(index)) else {
            throw GDALError("\(path) has no band \(index)")
        }
        return RasterBand(handle: b, dataset: self)
    }
}

/// Element types the project reads rasters into.
public protocol RasterElement {
    static var gdalType: GDALDataType { get }
}
extension UInt8: RasterElement { public static var gdalType: GDALDataType { GDT_Byte } }
extension UInt16: RasterElement { public static var gdalType: GDALDataType { GDT_UInt16 } }
extension Int16: RasterElement { public static var gdalType: GDALDataType { GDT_Int16 } }
extension Float: RasterElement { public static var gdalType: GDALDataType { GDT_Float32 } }
extension Double: RasterElement { public static var gdalType: GDALDataType { GDT_Float64 } }

public struct RasterBand {
    let handle: GDALRasterBandH
    let dataset: Dataset  // keeps the dataset open while the band is used

    /// The band's overviews as GDAL lists them (largest first).
    public var overviewCount: Int { Int(GDALGetOverviewCount(handle)) }

    /// Overview `i` (0-based) of the band, nil when there is none.
    public func overview(_ i: Int) -> RasterBand? {
        guard i >= 0, i < overviewCount, let h = GDALGetOverview(handle, Int32(i)) else { return nil }
        return RasterBand(handle: h, dataset: dataset)
    }

    /// Size of the band in pixels (an overview's own size).
    public var size: (width: Int, height: Int) {
        (Int(GDALGetRasterBandXSize(handle)), Int(GDALGetRasterBandYSize(handle)))
    }

    public var noDataValue: Double? {
        var has: Int32 = 0
        let v = GDALGetRasterNoDataValue(handle, &has)
        return has != 0 ? v : nil
    }

    /// Bytes per sample of the band's stored data type (2 for UInt16).
    public var bytesPerSample: Int {
        Int(GDALGetDataTypeSizeBytes(GDALGetRasterDataType(handle)))
    }

    public var blockSize: (width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0
        GDALGetBlockSize(handle, &w, &h)
        return (Int(w), Int(h))
    }

    /// Reads the window (x, y, width, height) at full resolution into `buffer` (row-major,
    /// `width * height` elements), converting to `T`. Only the blocks the window touches are read.
    public func read<T: RasterElement>(x: Int, y: Int, width: Int, height: Int,
                                       into buffer: UnsafeMutableBufferPointer<T>) throws {
        precondition(buffer.count >= width * height)
        RecentErrors.clear()
        let err = GDALRasterIO(handle, GF_Read, Int32(x), Int32(y), Int32(width), Int32(height),
                               buffer.baseAddress, Int32(width), Int32(height), T.gdalType, 0, 0)
        if err != CE_None {
            throw GDALError.last("reading \(width)x\(height) at (\(x), \(y)) of \(dataset.path)")
        }
    }

    /// Reads the window (x, y, width, height) into `buffer` at `offset`, rows `lineStride`
    /// elements apart: a sub-rectangle of a larger row-major buffer.
    public func read<T: RasterElement>(x: Int, y: Int, width: Int, height: Int,
                                       into buffer: UnsafeMutableBufferPointer<T>, offset: Int, lineStride: Int) throws {
        precondition(offset >= 0 && lineStride >= width && offset + (height - 1) * lineStride + width <= buffer.count)
        RecentErrors.clear()
        let size = MemoryLayout<T>.stride
        let err = GDALRasterIO(handle, GF_Read, Int32(x), Int32(y), Int32(width), Int32(height),
                               buffer.baseAddress! + offset, Int32(width), Int32(height), T.gdalType,
                               Int32(size), Int32(lineStride * size))
        if err != CE_None {
            throw GDALError.last("reading \(width)x\(height) at (\(x), \(y)) of \(dataset.path)")
        }
    }

    /// Reads a window resampled to (outWidth, outHeight), e.g. from overviews for previews.
    public func read<T: RasterElement>(x: Int, y: Int, width: Int, height: Int,
                                       outWidth: Int, outHeight: Int,
                                       into buffer: UnsafeMutableBufferPointer<T>) throws {
        precondition(buffer.count >= outWidth * outHeight)
        RecentErrors.clear()
        let err = GDALRasterIO(handle, GF_Read, Int32(x), Int32(y), Int32(width), Int32(height),
                               buffer.baseAddress, Int32(outWidth), Int32(outHeight), T.gdalType, 0, 0)
        if err != CE_None {
            throw GDALError.last("reading \(width)x\(height) at (\(x), \(y)) of \(dataset.path)")
        }
    }
}
