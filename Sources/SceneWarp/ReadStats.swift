/// Running totals of one `SceneReader`, for job logs and tuning. Pixels and bytes are decoded
/// ones (whole stored tiles, or GDAL windows on its path); GDALKit's `NetworkStats` plus
/// `RangeFetcher.totalBytes` have the bytes actually downloaded.
public struct ReadStats: Equatable, Sendable {
    /// Planes produced by reading a source (empty plans are not counted).
    public var planesRead = 0
    /// Source pixels decoded, summed over planes.
    public var pixelsRead = 0
    /// `pixelsRead` in bytes of the stored type.
    public var bytesRead = 0
    /// Cache misses: target grids placed in a source CRS, and index maps built.
    public var centreTransforms = 0
    public var indexMapsBuilt = 0
    /// Interpolated centres recomputed exactly because they lie near a source pixel edge.
    public var centresRefined = 0
    /// Assets opened (dataset cache misses).
    public var datasetsOpened = 0
    /// Source blocks of the windows read, and those skipped because no needed pixel lies in them.
    public var blocksRead = 0
    public var blocksSkipped = 0
    /// Planes read tile by tile (stored blocks decoded here) rather than through GDAL's RasterIO.
    public var tilePlanes = 0
    /// Assets opened from the header index (no request), and tiles taken from the prefetch.
    public var indexedOpens = 0
    public var tilesPrefetched = 0
    /// Assets whose object changed since it was indexed: read again from a fresh header.
    public var staleAssets = 0

    public init() {}
}
