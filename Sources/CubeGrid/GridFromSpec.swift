import CubeSpec
import Foundation
import GDALKit

extension GeoBox {
    /// Largest grid edge and chunk count accepted: beyond these a spec is a mistake, not a cube.
    public static let maxEdge = 100_000_000
    public static let maxChunks = 20_000_000

    /// The snapped grid a spec describes. Errors name the spec field.
    public static func make(_ spec: GridSpec) throws -> GeoBox {
        let crs: CRS
        do {
            crs = try CRS(spec.crs)
        } catch {
            throw SpecError("grid.crs", "unknown CRS '\(spec.crs.prefix(60))' (use e.g. EPSG:4326, EPSG:32632, a WKT or PROJ string)")
        }
        // A vertical or engineering CRS parses but cannot hold a map grid.
        if !(crs.isGeographic && crs.epsg == 4326) {
            do {
                _ = try crs.transform(to: .lonLat)
            } catch {
                throw SpecError("grid.crs", "'\(spec.crs.prefix(60))' is not a horizontal CRS that maps to longitude/latitude (\(error))")
            }
        }
        var (minX, minY, maxX, maxY) = (spec.bbox[0], spec.bbox[1], spec.bbox[2], spec.bbox[3])
        if spec.bboxCRS == .lonLat, let area = crs.reference.areaOfUse, area.west <= area.east,
           maxX < area.west || minX > area.east || maxY < area.south || minY > area.north {
            throw SpecError("grid.bbox", "lies outside the area where \(crs) is defined (lon \(area.west)..\(area.east), lat \(area.south)..\(area.north))")
        }
        if spec.bboxCRS == .lonLat && !(crs.isGeographic && crs.epsg == 4326) {
            guard let t = try? CRS.lonLat.transform(to: crs),
                  let b = t.transformBounds(minX: minX, minY: minY, maxX: maxX, maxY: maxY, densify: 21) else {
                throw SpecError("grid.bbox", "cannot be expressed in \(crs) (is the bbox within the CRS's area of use?)")
            }
            (minX, minY, maxX, maxY) = b
        }
        if crs.isGeographic, spec.bboxCRS == .grid, minX > maxX {
            throw SpecError("grid.bbox", "crosses the antimeridian, which is not supported; split it into two cubes")
        }
        let rx = spec.resolutionX, ry = spec.resolutionY
        // Snap outwards to the CRS lattice, forgiving float noise of 1e-9 pixel at the edges.
        let eps = 1e-9
        let fx0 = (minX / rx + eps).rounded(.down)
        let fx1 = (maxX / rx - eps).rounded(.up)
        let fy0 = (minY / ry + eps).rounded(.down)
        let fy1 = (maxY / ry - eps).rounded(.up)
        let w = fx1 - fx0, h = fy1 - fy0
        guard w.isFinite, h.isFinite, abs(fx0) < 1e15, abs(fy1) < 1e15 else {
            throw SpecError("grid.resolution", "gives a grid too large to represent")
        }
        guard w <= Double(maxEdge), h <= Double(maxEdge) else {
            throw SpecError("grid.resolution", "gives a grid of \(Int(w)) x \(Int(h)) pixels; at most \(maxEdge) per side")
        }
        let width = max(1, Int(w)), height = max(1, Int(h))
        guard spec.chunk <= max(width, height) else {
            throw SpecError("grid.chunk", "\(spec.chunk) pixels is larger than the whole grid (\(width) x \(height))")
        }
        let box = GeoBox(crs: crs, resolutionX: rx, resolutionY: ry, ix0: Int(fx0), iy0: Int(fy1),
                         width: width, height: height, chunk: spec.chunk)
        guard box.chunkCount <= maxChunks else {
            throw SpecError("grid.chunk", "gives \(box.chunkCount) chunks; at most \(maxChunks) (use a larger chunk)")
        }
        return box
    }
}
