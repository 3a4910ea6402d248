import CubeGrid
import Foundation
import GDALKit

/// Decides, chunk by chunk, whether any land lies under a chunk.
///
/// A chunk is ocean only if no land pixel lies within its lon/lat footprint plus a one-mask-pixel
/// margin. The footprint is the chunk outline with densified edges mapped to lon/lat; its
/// bounding box is used, which is a superset of the footprint, so land is never skipped.
public enum LandChunks {
    public static let marginPixels = 1

    public static func classify(grid: GeoBox, mask: LandMask,
                                progress: ((Int, Int) -> Void)? = nil) throws -> [Bool] {
        var land = [Bool](repeating: false, count: grid.chunkCount)
        let toLonLat = (grid.crs.isGeographic && grid.crs.epsg == 4326) ? nil : try grid.crs.transform(to: .lonLat)
        for cy in 0..<grid.chunkRows {
            // Footprints of the whole chunk row first, then one mask strip that covers them all.
            var boxes: [(w: Double, s: Double, e: Double, n: Double)?] = []
            boxes.reserveCapacity(grid.chunkCols)
            for cx in 0..<grid.chunkCols {
                let window = grid.chunkWindow(cy: cy, cx: cx)
                if let fp = try? grid.lonLatFootprint(window, densify: toLonLat == nil ? 1 : 8, transform: toLonLat) {
                    boxes.append((fp.west, fp.south, fp.east, fp.north))
                } else {
                    boxes.append(nil)  // cannot be placed on Earth: keep it, never drop land silently
                }
            }
            let placed = boxes.compactMap { $0 }
            if let s = placed.map(\.s).min(), let n = placed.map(\.n).max(),
               let w = placed.map(\.w).min(), let e = placed.map(\.e).max(),
               let strip = try mask.strip(west: w, south: s, east: e, north: n, margin: marginPixels) {
                for (cx, box) in boxes.enumerated() {
                    guard let b = box else { land[cy * grid.chunkCols + cx] = true; continue }
                    land[cy * grid.chunkCols + cx] = mask.anyLand(in: strip, west: b.w, south: b.s, east: b.e,
                                                                  north: b.n, margin: marginPixels)
                }
            } else {
                for (cx, box) in boxes.enumerated() where box == nil { land[cy * grid.chunkCols + cx] = true }
            }
            progress?(cy + 1, grid.chunkRows)
        }
        return land
    }
}
