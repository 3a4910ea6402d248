import CGDAL

/// Writes rasters: single-band GeoTIFFs from buffers and format conversion (e.g. to COG).
/// Used for test fixtures and small outputs; the datacube itself is written as Zarr.
public enum RasterWriter {
    /// Writes `data` (row-major, `width * height`) as a one-band GeoTIFF. `options` are GTiff
    /// creation options, e.g. `["TILED=YES", "COMPRESS=DEFLATE"]`.
    public static func writeGeoTIFF<T: RasterElement>(
        path: String, width: Int, height: Int, data: [T], geoTransform: GeoTransform,
        crs: SpatialReference?, noData: Double? = nil, options: [String] = []
    ) throws {
        GDAL.initialize()
        guard data.count == width * height else {
            throw GDALError("\(path): \(data.count) samples for a \(width)x\(height) raster")
        }
        guard let driver = GDALGetDriverByName("GTiff") else { throw GDALError("GTiff driver missing") }
        let created = withMutableCStringArray(options) { o in
            GDALCreate(driver, path, Int32(width), Int32(height), 1, T.gdalType, o)
        }
        guard let ds = created else { throw GDALError.last("cannot create \(path)") }
        var failure: GDALError?
        var gt = geoTransform.array
        if GDALSetGeoTransform(ds, &gt) != CE_None { failure = GDALError.last("geotransform of \(path)") }
        if failure == nil, let crs, GDALSetProjection(ds, crs.wkt2) != CE_None {
            failure = GDALError.last("CRS of \(path)")
        }
        let band = GDALGetRasterBand(ds, 1)
        if failure == nil, let noData, GDALSetRasterNoDataValue(band, noData) != CE_None {
            failure = GDALError.last("nodata of \(path)")
        }
        if failure == nil {
            var copy = data
            let err = copy.withUnsafeMutableBytes { buf in
                GDALRasterIO(band, GF_Write, 0, 0, Int32(width), Int32(height), buf.baseAddress,
                             Int32(width), Int32(height), T.gdalType, 0, 0)
            }
            if err != CE_None { failure = GDALError.last("writing \(path)") }
        }
        GDALClose(ds)
        if let failure { throw failure }
    }

    /// Copies `source` to `destination` in `format` (e.g. "COG" with `["COMPRESS=DEFLATE",
    /// "BLOCKSIZE=256"]`), like `gdal_translate -of <format> -co …`.
    public static func translate(_ source: String, to destination: String, format: String = "COG",
                                 creationOptions: [String] = []) throws {
        let input = try Dataset(path: source)
        let args = ["-of", format] + creationOptions.flatMap { ["-co", $0] }
        let options = withMutableCStringArray(args) { GDALTranslateOptionsNew($0, nil) }
        guard let options else { throw GDALError.last("invalid translate options") }
        defer { GDALTranslateOptionsFree(options) }
        var usageError: Int32 = 0
        guard let out = GDALTranslate(destination, input.handle, options, &usageError) else {
            throw GDALError.last("cannot write \(destination)")
        }
        GDALClose(out)
    }
}
