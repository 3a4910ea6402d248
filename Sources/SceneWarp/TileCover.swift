import CubeGrid
import GDALKit

/// The stored tiles of an indexed asset that cover a target box: the box's bounds in the scene's
/// CRS, a source pixel of margin, clipped to the file's tile grid. Used to put a job's tile
/// requests in flight before a lane asks for them. Keeps the target → scene CRS transforms it
/// made, by EPSG code, so a job's scenes of one zone share one.
public final class TileCover {
    private var transforms: [Int: CoordinateTransform?] = [:]

    public init() {}

    /// Byte ranges (file offset, size) of the tiles of `asset` under `target`; empty when the
    /// asset is not tile-readable, has no EPSG code or does not overlap.
    public func ranges(of asset: IndexedAsset, covering target: GeoBox) -> [(offset: UInt64, size: Int)] {
        guard let layout = asset.tileLayout, let code = asset.header.epsg else { return [] }
        if transforms[code] == nil {
            transforms[code] = .some((try? SpatialReference.epsg(code)).flatMap { ref in
                target.crs.reference.isSame(ref) ? nil : try? CoordinateTransform(from: target.crs.reference, to: ref)
            })
        }
        var bounds = (minX: target.left, minY: target.bottom, maxX: target.right, maxY: target.top)
        if case .some(.some(let t)) = transforms[code] {
            guard let b = t.transformBounds(minX: target.left, minY: target.bottom, maxX: target.right,
                                            maxY: target.top) else { return [] }
            bounds = b
        }
        let gt = asset.header.geoTransform
        guard gt.count == 6, gt[1] > 0, gt[5] < 0 else { return [] }
        let c0 = Int(((bounds.minX - gt[0]) / gt[1]).rounded(.down)) - 1
        let c1 = Int(((bounds.maxX - gt[0]) / gt[1]).rounded(.up)) + 1
        let r0 = Int(((bounds.maxY - gt[3]) / gt[5]).rounded(.down)) - 1
        let r1 = Int(((bounds.minY - gt[3]) / gt[5]).rounded(.up)) + 1
        let bc0 = max(0, c0 / layout.blockWidth), bc1 = min(layout.blocksAcross - 1, max(0, c1) / layout.blockWidth)
        let br0 = max(0, r0 / layout.blockHeight), br1 = min(layout.blocksDown - 1, max(0, r1) / layout.blockHeight)
        guard c1 >= 0, r1 >= 0, bc0 <= bc1, br0 <= br1 else { return [] }
        var ranges: [(offset: UInt64, size: Int)] = []
        let offsets = asset.header.blockOffsets, counts = asset.header.blockByteCounts
        for row in br0...br1 {
            for col in bc0...bc1 {
                let i = row * layout.blocksAcross + col
                guard i < offsets.count, i < counts.count, offsets[i] > 0, counts[i] > 0,
                      counts[i] <= UInt64(Int32.max) else { continue }
                ranges.append((offsets[i], Int(counts[i])))
            }
        }
        return ranges
    }
}
