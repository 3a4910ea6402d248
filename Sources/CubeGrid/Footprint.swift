import CubeCore
import Foundation
import GDALKit

extension GeoBox {
    /// The lon/lat outline of `window` (whole grid by default): one closed, counter-clockwise
    /// ring with `densify` points per edge so a projected chunk's curved outline is followed
    /// closely (what the STAC search and the land mask need). Throws when PROJ cannot map it.
    public func lonLatFootprint(_ window: PixelWindow? = nil, densify: Int = 16,
                                transform: CoordinateTransform? = nil) throws -> LonLatFootprint {
        let w = window ?? PixelWindow(col: 0, row: 0, width: width, height: height)
        let x0 = Double(ix0 + w.col) * resolutionX, x1 = Double(ix0 + w.col + w.width) * resolutionX
        let y0 = Double(iy0 - w.row) * resolutionY, y1 = Double(iy0 - w.row - w.height) * resolutionY
        let n = max(1, densify)
        // Counter-clockwise: bottom edge west→east, right edge up, top edge east→west, left edge down.
        var xs: [Double] = [], ys: [Double] = []
        for i in 0..<n { xs.append(x0 + (x1 - x0) * Double(i) / Double(n)); ys.append(y1) }
        for i in 0..<n { xs.append(x1); ys.append(y1 + (y0 - y1) * Double(i) / Double(n)) }
        for i in 0..<n { xs.append(x1 - (x1 - x0) * Double(i) / Double(n)); ys.append(y0) }
        for i in 0..<n { xs.append(x0); ys.append(y0 - (y0 - y1) * Double(i) / Double(n)) }
        if !(crs.isGeographic && crs.epsg == 4326) {
            let t = try transform ?? crs.transform(to: .lonLat)
            let failed = xs.withUnsafeMutableBufferPointer { xb in
                ys.withUnsafeMutableBufferPointer { yb in t.transform(x: xb, y: yb) }
            }
            if failed > 0 { throw GDALError("chunk outline cannot be mapped to lon/lat") }
        }
        var ring = zip(xs, ys).map { LonLat($0, $1) }
        ring.append(ring[0])
        return LonLatFootprint(LonLatPolygon(exterior: ring))
    }
}
