import CubeCore
import CubeGrid
import GDALKit

/// What one asset contributes to one target grid, decided before any pixel is read: the source
/// window to fetch and how many target pixels it covers. Callers skip scenes whose plan is
/// empty or tiny, and can read the mask first to skip the bands of fully invalid scenes.
public struct ReadPlan {
    public let href: String
    public let target: GeoBox
    public let resampling: Resampling
    public let source: SourceGrid
    /// Source pixels to read at full resolution (nil: the target is not covered). For bilinear
    /// and average it is the nearest window plus the kernel's margin: GDAL's warper chooses its
    /// own window, so there it is an estimate.
    public let window: PixelWindow?
    /// Target pixels whose centre falls inside the source raster.
    public let coveredPixels: Int
    /// Bytes per sample of band 1 as stored.
    public let bytesPerSample: Int
    /// The overview level read (0: full resolution); `source` is that level's lattice.
    public var overview: Int { scene.overview }

    public var isEmpty: Bool { window == nil || coveredPixels == 0 }
    public var targetPixels: Int { target.width * target.height }
    /// Decoded bytes of one band's window: what a read costs before compression.
    public var windowBytes: Int { (window?.pixelCount ?? 0) * bytesPerSample }

    let scene: OpenScene
    let map: IndexMap
}

/// An opened asset and its georeferencing, kept in the reader's dataset cache. Opened from
/// its indexed header (no request at all) or by GDAL; an indexed scene opens its GDAL dataset
/// only when something needs it (resampled reads, the fallback after a failed tile read).
final class OpenScene {
    let href: String
    /// The overview level this scene reads (0: full resolution), and its key in the reader's
    /// dataset cache (the href, plus the level when not 0).
    let overview: Int
    let cacheKey: String
    let grid: SourceGrid
    let reference: SpatialReference
    let bytesPerSample: Int
    /// The header index entry it was opened from, if any.
    let indexed: IndexedAsset?
    private var opened: Dataset?
    /// The asset's bytes (opened on the first tile-by-tile read).
    var bytes: TileByteSource?
    /// Per band: read tile by tile, or nil when only GDAL's RasterIO can read it.
    var tiled: [Int: TiledBand?] = [:]

    init(href: String, dataset: Dataset?, grid: SourceGrid, reference: SpatialReference, bytesPerSample: Int,
         indexed: IndexedAsset? = nil, overview: Int = 0) {
        self.href = href
        self.overview = overview
        cacheKey = OpenScene.cacheKey(href, overview)
        self.opened = dataset
        self.grid = grid
        self.reference = reference
        self.bytesPerSample = bytesPerSample
        self.indexed = indexed
    }

    static func cacheKey(_ href: String, _ overview: Int) -> String {
        overview == 0 ? href : "\(href)#overview=\(overview)"
    }

    /// GDAL's open options for overview level `overview` (GDAL counts its overviews from 0).
    static func openOptions(_ overview: Int) -> [String] { overview > 0 ? ["OVERVIEW_LEVEL=\(overview - 1)"] : [] }

    /// GDAL's dataset of the asset (of its overview level), opened now if it was not.
    func dataset() throws -> Dataset {
        if let opened { return opened }
        do {
            let d = try Dataset(path: gdalPath(forHref: href), options: OpenScene.openOptions(overview))
            opened = d
            return d
        } catch {
            throw SceneWarpError(.open, href: href, "cannot open: \(error)", cause: error)
        }
    }
}

extension PixelWindow {
    /// Grown by `margin` pixels on each side, clipped to a `width` × `height` raster.
    func grown(by margin: Int, within width: Int, _ height: Int) -> PixelWindow {
        let c0 = max(0, col - margin), r0 = max(0, row - margin)
        let c1 = min(width, col + self.width + margin), r1 = min(height, row + self.height + margin)
        return PixelWindow(col: c0, row: r0, width: c1 - c0, height: r1 - r0)
    }
}
