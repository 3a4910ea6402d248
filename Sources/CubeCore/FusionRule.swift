/// How the scenes of one solar day (overlapping tiles of one pass) become one observation.
/// Scenes are offered in (datetime, item id) order.
public enum FusionRule: String, Sendable, CaseIterable {
    /// Per pixel, the first scene that has data there decides: its values if the pixel is
    /// valid, else the pixel stays masked and later scenes are not consulted. A scene has data
    /// at a pixel when its mask class is not 0 (no data) and, for a valid class, every band
    /// is nonzero. odc-stac's `groupby="solar_day"` fuser gives the same result (first
    /// non-nodata per band, then the mask), so cubes agree with odc-stac pipelines. Overlapping
    /// tiles of a pass share their clouds, so once a scene covers the chunk the other tiles of
    /// the day are not read at all.
    case firstData = "first-data"
    /// Per pixel, the first VALID scene gives the values: a pixel masked in one tile is taken
    /// from an overlapping tile of the same pass where that tile calls it clear. A few more
    /// observations along cloud edges in tile overlaps, for reading every overlapping tile.
    case firstValid = "first-valid"
}
