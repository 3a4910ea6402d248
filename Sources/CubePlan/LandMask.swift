import CubeSpec
import Foundation
import GDALKit

/// A lon/lat land raster (1 = land) that answers "is there any land in this lon/lat box?".
/// It reads only the rows it is asked about, one strip at a time, so planning a continent
/// never holds the whole 43200 x 21600 GLOBE raster in memory.
public final class LandMask {
    public let description: String
    private let source: Source
    /// Lon/lat of the raster's top-left corner and its pixel size in degrees.
    let west: Double, north: Double, pixel: Double
    let width: Int, height: Int

    private enum Source {
        case raster(RasterBand)
        case memory([UInt8])
    }

    /// The GLOBE 30" land raster shipped in the package (override with `CUBE_LAND_MASK`).
    public static func embedded() throws -> LandMask {
        let path = try embeddedPath()
        return try LandMask(rasterPath: path, description: "GLOBE 30 arc-second land mask (embedded)")
    }

    public static func embeddedPath() throws -> String {
        if let env = ProcessInfo.processInfo.environment["CUBE_LAND_MASK"], !env.isEmpty { return env }
        if let url = Bundle.module.url(forResource: "globe_land_30s", withExtension: "tif", subdirectory: "Resources") {
            return url.path
        }
        throw GDALError("the embedded land mask is missing from this build; set CUBE_LAND_MASK to globe_land_30s.tif")
    }

    /// A lon/lat raster whose nonzero pixels are land.
    public init(rasterPath: String, description: String? = nil) throws {
        let ds = try Dataset(path: rasterPath)
        guard let gt = ds.geoTransform, gt.isNorthUp else {
            throw GDALError("land mask \(rasterPath) has no north-up georeferencing")
        }
        if let srs = ds.spatialReference, !srs.isGeographic {
            throw GDALError("land mask \(rasterPath) must be in lon/lat (EPSG:4326), not \(srs.name)")
        }
        guard abs(gt.b + gt.f) < 1e-12 * abs(gt.b) else {
            throw GDALError("land mask \(rasterPath) must have square pixels")
        }
        source = .raster(try ds.band(1))
        west = gt.a
        north = gt.d
        pixel = gt.b
        width = ds.width
        height = ds.height
        self.description = description ?? "land raster \(rasterPath)"
    }

    /// Rasterizes a vector land layer (polygons) at 30" over `bounds` (lon/lat, widened to the lattice).
    public init(vectorPath: String, covering bounds: (west: Double, south: Double, east: Double, north: Double)) throws {
        let p = 1.0 / 120.0
        let w = max(-180, ((bounds.west / p).rounded(.down) - 2) * p)
        let e = min(180, ((bounds.east / p).rounded(.up) + 2) * p)
        let s = max(-90, ((bounds.south / p).rounded(.down) - 2) * p)
        let n = min(90, ((bounds.north / p).rounded(.up) + 2) * p)
        let r = try MemoryRaster.rasterize(vectorPath: vectorPath, west: w, south: s, east: e, north: n, pixel: p)
        source = .memory(r.data)
        west = w
        north = n
        pixel = p
        width = r.width
        height = r.height
        description = "vector land mask \(vectorPath)"
    }

    /// Loads the mask a spec asks for; nil for `land_mask: none`.
    public static func load(_ source: LandMaskSource, baseDirectory: URL,
                            covering bounds: (west: Double, south: Double, east: Double, north: Double)) throws -> LandMask? {
        switch source {
        case .none: return nil
        case .embedded: return try embedded()
        case .path(let p):
            let path = CubeSpec.resolve(p, against: baseDirectory)
            guard FileManager.default.fileExists(atPath: path) else {
                throw SpecError("land_mask", "file not found: \(path)")
            }
            let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
            do {
                if ["geojson", "json", "shp", "gpkg", "fgb", "kml", "gml"].contains(ext) {
                    return try LandMask(vectorPath: path, covering: bounds)
                }
                return try LandMask(rasterPath: path)
            } catch let e as SpecError {
                throw e
            } catch {
                throw SpecError("land_mask", "cannot read \(path) as a land mask (a raster with 1 = land, or land polygons): \(error)")
            }
        }
    }

    /// Mask pixel columns/rows whose area meets the lon/lat box, widened by `margin` pixels
    /// and clipped to the raster.
    func pixelRange(west w: Double, south s: Double, east e: Double, north n: Double,
                    margin: Int) -> (c0: Int, r0: Int, c1: Int, r1: Int)? {
        let c0 = max(0, Int(((w - west) / pixel).rounded(.down)) - margin)
        let c1 = min(width, Int(((e - west) / pixel).rounded(.up)) + margin)
        let r0 = max(0, Int(((north - n) / pixel).rounded(.down)) - margin)
        let r1 = min(height, Int(((north - s) / pixel).rounded(.up)) + margin)
        guard c1 > c0, r1 > r0 else { return nil }
        return (c0, r0, c1, r1)
    }

    /// A horizontal strip of the mask, read once and queried for many boxes.
    public final class Strip {
        let c0: Int, r0: Int, width: Int, height: Int
        let data: [UInt8]
        init(c0: Int, r0: Int, width: Int, height: Int, data: [UInt8]) {
            (self.c0, self.r0, self.width, self.height, self.data) = (c0, r0, width, height, data)
        }

        /// True when any pixel of the (absolute) range is land.
        func anyLand(c0 a: Int, r0 b: Int, c1: Int, r1: Int) -> Bool {
            let ca = max(a, c0) - c0, cb = min(c1, c0 + width) - c0
            let ra = max(b, r0) - r0, rb = min(r1, r0 + height) - r0
            guard cb > ca, rb > ra else { return false }
            return data.withUnsafeBufferPointer { buf in
                for r in ra..<rb {
                    let row = buf.baseAddress! + r * width
                    for c in ca..<cb where row[c] != 0 { return true }
                }
                return false
            }
        }
    }

    /// Reads the strip of mask rows covering `south...north` over `west...east` plus the margin.
    public func strip(west w: Double, south s: Double, east e: Double, north n: Double, margin: Int) throws -> Strip? {
        guard let r = pixelRange(west: w, south: s, east: e, north: n, margin: margin) else { return nil }
        let sw = r.c1 - r.c0, sh = r.r1 - r.r0
        var data = [UInt8](repeating: 0, count: sw * sh)
        switch source {
        case .raster(let band):
            try data.withUnsafeMutableBufferPointer { buf in
                try band.read(x: r.c0, y: r.r0, width: sw, height: sh, into: buf)
            }
        case .memory(let all):
            for row in 0..<sh {
                let from = (r.r0 + row) * width + r.c0
                data.replaceSubrange(row * sw..<(row + 1) * sw, with: all[from..<from + sw])
            }
        }
        return Strip(c0: r.c0, r0: r.r0, width: sw, height: sh, data: data)
    }

    /// True when any land pixel lies within the lon/lat box widened by `margin` mask pixels.
    public func anyLand(in strip: Strip, west w: Double, south s: Double, east e: Double, north n: Double,
                        margin: Int) -> Bool {
        guard let r = pixelRange(west: w, south: s, east: e, north: n, margin: margin) else { return false }
        return strip.anyLand(c0: r.c0, r0: r.r0, c1: r.c1, r1: r.r1)
    }
}
