import Composite
import CubeGrid

/// Where a strip's observations are built when some sensor filters its masks
/// (`mask.filters`): the strip grown by the filters' halo on every side, clipped to the grid,
/// so the filtered mask of the strip's pixels does not depend on the chunking (outside the
/// grid counts as not masked, as for a one-chunk build of the whole grid).
struct FilterWindow {
    /// The grown window's grid: scenes are read and fused onto it.
    let target: GeoBox
    /// The strip's pixels inside the grown window: what reaches the reducer.
    let inner: PlaneWindow

    /// `strip` in grid pixels (not chunk pixels), grown by `halo`.
    init(strip: PixelWindow, halo: Int, grid: GeoBox) {
        let grown = grid.grown(strip, by: halo)
        target = grid.subBox(grown)
        inner = PlaneWindow(sourceWidth: grown.width, col: strip.col - grown.col, row: strip.row - grown.row,
                            width: strip.width, height: strip.height)
    }
}

/// One read lane's mask filtering: the masked-pixel plane of the grown window and the
/// morphology's scratch, kept between observations (no allocation per observation).
final class LaneFilter {
    private let morphology = MaskMorphology()
    private var plane: [UInt8] = []

    /// The pixels `filters` drop from `builder`'s observation (the filtered plane of its pixels
    /// with data and an invalid class), or nil when none are (no filters, or nothing masked).
    func dropped(_ builder: ObservationBuilder, filters: MaskFilters, width: Int) -> [UInt8]? {
        guard !filters.isEmpty, builder.hasValidPixels else { return nil }
        if plane.count != builder.pixelCount { plane = [UInt8](repeating: 0, count: builder.pixelCount) }
        let kept = plane.withUnsafeMutableBufferPointer { p -> Int in
            guard builder.maskedPixels(into: p) > 0 else { return 0 }
            return morphology.apply(filters, to: p, width: width, height: builder.pixelCount / width)
        }
        return kept > 0 ? plane : nil
    }
}

extension ChunkWorker {
    /// The widest halo the sensors' mask filters need; 0 when no sensor filters its masks.
    var filterHalo: Int { cube.spec.maskFilterHalo }
}
