import CGDAL
import Foundation

/// Small raster helpers built on GDAL's in-memory driver: rasterizing a vector layer, and
/// writing an 8-bit image (PNG) from buffers.
public enum MemoryRaster {
    /// Burns the polygons of a vector file (any OGR format) into a lon/lat byte raster:
    /// 1 where a polygon touches the pixel (ALL_TOUCHED, so thin land is never lost), else 0.
    /// `west/south/east/north` must lie on the `pixel` lattice.
    public static func rasterize(vectorPath: String, west: Double, south: Double, east: Double,
                                 north: Double, pixel: Double) throws -> (width: Int, height: Int, data: [UInt8]) {
        GDAL.initialize()
        guard let src = GDALOpenEx(vectorPath, UInt32(GDAL_OF_VECTOR | GDAL_OF_READONLY), nil, nil, nil) else {
            throw GDALError.last("cannot open vector land mask \(vectorPath)")
        }
        defer { GDALClose(src) }
        let width = Int(((east - west) / pixel).rounded()), height = Int(((north - south) / pixel).rounded())
        guard width > 0, height > 0, width * height <= 1_000_000_000 else {
            throw GDALError("land mask window of \(width) x \(height) pixels is not usable")
        }
        var args = ["-of", "MEM", "-burn", "1", "-at", "-ot", "Byte", "-init", "0",
                    "-a_srs", "EPSG:4326",
                    "-te", "\(west)", "\(south)", "\(east)", "\(north)",
                    "-ts", "\(width)", "\(height)"]
        let options = withMutableCStringArray(&args) { argv in
            GDALRasterizeOptionsNew(argv, nil)
        }
        guard let options else { throw GDALError.last("bad rasterize options") }
        defer { GDALRasterizeOptionsFree(options) }
        var usageError: Int32 = 0
        guard let out = GDALRasterize("", nil, src, options, &usageError) else {
            throw GDALError.last("cannot rasterize \(vectorPath)")
        }
        defer { GDALClose(out) }
        var data = [UInt8](repeating: 0, count: width * height)
        let band = GDALGetRasterBand(out, 1)
        let err = data.withUnsafeMutableBytes { buf in
            GDALRasterIO(band, GF_Read, 0, 0, Int32(width), Int32(height), buf.baseAddress,
                         Int32(width), Int32(height), GDT_Byte, 0, 0)
        }
        guard err == CE_None else { throw GDALError.last("cannot read rasterized \(vectorPath)") }
        return (width, height, data)
    }

    /// Writes 1 (grey), 3 (RGB) or 4 (RGBA) 8-bit planes of `width * height` as a PNG file.
    public static func writePNG(path: String, width: Int, height: Int, planes: [[UInt8]]) throws {
        GDAL.initialize()
        precondition([1, 3, 4].contains(planes.count) && planes.allSatisfy { $0.count == width * height })
        guard let mem = GDALGetDriverByName("MEM"), let png = GDALGetDriverByName("PNG") else {
            throw GDALError("GDAL has no MEM or PNG driver")
        }
        guard let ds = GDALCreate(mem, "", Int32(width), Int32(height), Int32(planes.count), GDT_Byte, nil) else {
            throw GDALError.last("cannot create image")
        }
        defer { GDALClose(ds) }
        for (i, plane) in planes.enumerated() {
            let band = GDALGetRasterBand(ds, Int32(i + 1))
            let err = plane.withUnsafeBytes { buf in
                GDALRasterIO(band, GF_Write, 0, 0, Int32(width), Int32(height),
                             UnsafeMutableRawPointer(mutating: buf.baseAddress), Int32(width), Int32(height), GDT_Byte, 0, 0)
            }
            guard err == CE_None else { throw GDALError.last("cannot fill image") }
            if planes.count == 4 && i == 3 { GDALSetRasterColorInterpretation(band, GCI_AlphaBand) }
        }
        let tmp = path + ".tmp-\(getpid())"
        guard let out = GDALCreateCopy(png, tmp, ds, 0, nil, nil, nil) else {
            throw GDALError.last("cannot write \(path)")
        }
        GDALClose(out)
        unlink(tmp + ".aux.xml")
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw GDALError("cannot move image into place at \(path): \(String(cString: strerror(errno)))")
        }
    }
}
