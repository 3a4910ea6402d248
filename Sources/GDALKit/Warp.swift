import CGDAL

/// A request to GDAL's warper for one band onto a north-up target grid.
public struct WarpRequest {
    /// Target CRS (any definition `-t_srs` accepts; WKT is safest).
    public var targetCRS: String
    /// Target extent in target CRS units: left, bottom, right, top.
    public var minX, minY, maxX, maxY: Double
    public var width, height: Int
    /// GDAL resampling name: "near", "bilinear", "average", …
    public var resampling: String
    /// 1-based source band.
    public var band: Int
    /// Treated as nodata when the source band declares none (Sentinel-2 uses 0).
    public var fallbackSourceNoData: Double?
    /// Written where no valid source pixel contributes.
    public var targetNoData: Double

    public init(targetCRS: String, minX: Double, minY: Double, maxX: Double, maxY: Double,
                width: Int, height: Int, resampling: String, band: Int = 1,
                fallbackSourceNoData: Double? = 0, targetNoData: Double = 0) {
        self.targetCRS = targetCRS
        (self.minX, self.minY, self.maxX, self.maxY) = (minX, minY, maxX, maxY)
        (self.width, self.height) = (width, height)
        self.resampling = resampling
        self.band = band
        self.fallbackSourceNoData = fallbackSourceNoData
        self.targetNoData = targetNoData
    }
}

extension Dataset {
    /// Warps one band into an in-memory dataset with GDAL's warper, as
    /// `gdalwarp -of MEM -r <r> -et 0 -ovr NONE -t_srs … -te … -ts …` would: an exact transformer
    /// (no linear approximation), full-resolution source (no overviews). GDAL reads only the
    /// source window the target needs.
    public func warped(_ request: WarpRequest) throws -> Dataset {
        let source = try band(request.band)
        var args = ["-of", "MEM", "-r", request.resampling, "-et", "0", "-ovr", "NONE",
                    "-t_srs", request.targetCRS,
                    "-te", "\(request.minX)", "\(request.minY)", "\(request.maxX)", "\(request.maxY)",
                    "-ts", "\(request.width)", "\(request.height)",
                    "-dstnodata", "\(request.targetNoData)"]
        if source.noDataValue == nil, let fallback = request.fallbackSourceNoData {
            args += ["-srcnodata", "\(fallback)"]
        }

        // GDAL 3.6's gdalwarp has no band selection: narrow multi-band sources with a VRT view.
        var input: GDALDatasetH? = handle
        var view: GDALDatasetH?
        if bandCount > 1 {
            view = try translateView(bands: [request.band])
            input = view
        }
        defer { if let view { GDALClose(view) } }

        let options = withMutableCStringArray(args) { GDALWarpAppOptionsNew($0, nil) }
        guard let options else { throw GDALError.last("invalid warp options for \(path)") }
        defer { GDALWarpAppOptionsFree(options) }
        var usageError: Int32 = 0
        guard let out = GDALWarp("", nil, 1, &input, options, &usageError) else {
            throw GDALError.last("warping \(path)")
        }
        return Dataset(owning: out, path: "MEM:warp(\(path))")
    }

    /// A virtual (VRT, nothing read) view of some bands of this dataset.
    func translateView(bands: [Int]) throws -> GDALDatasetH {
        let args = ["-of", "VRT"] + bands.flatMap { ["-b", "\($0)"] }
        let options = withMutableCStringArray(args) { GDALTranslateOptionsNew($0, nil) }
        guard let options else { throw GDALError.last("invalid translate options for \(path)") }
        defer { GDALTranslateOptionsFree(options) }
        var usageError: Int32 = 0
        guard let view = GDALTranslate("", handle, options, &usageError) else {
            throw GDALError.last("band view of \(path)")
        }
        return view
    }
}

/// Calls `body` with a NULL-terminated mutable `char **` (what the gdal_utils option parsers take).
func withMutableCStringArray<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    cStrings.append(nil)
    defer { cStrings.forEach { free($0) } }
    return cStrings.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
