import Foundation
import GDALKit

/// A rectangle of pixels inside a grid: columns `col ..< col+width`, rows `row ..< row+height`.
public struct PixelWindow: Equatable, Hashable, Sendable, Codable {
    public var col: Int, row: Int, width: Int, height: Int
    public init(col: Int, row: Int, width: Int, height: Int) {
        (self.col, self.row, self.width, self.height) = (col, row, width, height)
    }
    public var pixelCount: Int { width * height }
}

/// The cube's target grid as one value (after odc-geo's GeoBox): CRS, resolution, an integer
/// pixel origin on the CRS lattice, shape and spatial chunking. All coordinates are derived
/// from integers, so neighbouring chunks and cubes agree to the bit.
public struct GeoBox: Equatable, Sendable, Codable {
    public let crs: CRS
    public let resolutionX: Double
    public let resolutionY: Double
    /// Left edge = ix0 * resolutionX; top edge = iy0 * resolutionY.
    public let ix0: Int
    public let iy0: Int
    public let width: Int
    public let height: Int
    public let chunk: Int

    public init(crs: CRS, resolutionX: Double, resolutionY: Double, ix0: Int, iy0: Int,
                width: Int, height: Int, chunk: Int) {
        precondition(width > 0 && height > 0 && chunk > 0 && resolutionX > 0 && resolutionY > 0)
        self.crs = crs
        self.resolutionX = resolutionX
        self.resolutionY = resolutionY
        self.ix0 = ix0
        self.iy0 = iy0
        self.width = width
        self.height = height
        self.chunk = chunk
    }

    // MARK: edges and pixel centres

    public var left: Double { Double(ix0) * resolutionX }
    public var top: Double { Double(iy0) * resolutionY }
    public var right: Double { Double(ix0 + width) * resolutionX }
    public var bottom: Double { Double(iy0 - height) * resolutionY }

    /// GDAL order, north up.
    public var geoTransform: GeoTransform {
        GeoTransform(left, resolutionX, 0, top, 0, -resolutionY)
    }

    /// Centre x of column `col` (may lie outside 0..<width for neighbours).
    @inline(__always) public func x(_ col: Int) -> Double { (Double(ix0 + col) + 0.5) * resolutionX }
    /// Centre y of row `row` (row 0 is the top row).
    @inline(__always) public func y(_ row: Int) -> Double { (Double(iy0 - row) - 0.5) * resolutionY }

    public var xCoordinates: [Double] { (0..<width).map(x) }
    public var yCoordinates: [Double] { (0..<height).map(y) }

    // MARK: chunks

    public var chunkRows: Int { (height + chunk - 1) / chunk }
    public var chunkCols: Int { (width + chunk - 1) / chunk }
    public var chunkCount: Int { chunkRows * chunkCols }

    /// The pixels chunk (cy, cx) covers inside the grid (edge chunks are smaller).
    public func chunkWindow(cy: Int, cx: Int) -> PixelWindow {
        precondition(cy >= 0 && cy < chunkRows && cx >= 0 && cx < chunkCols, "chunk (\(cy), \(cx)) outside the grid")
        let row = cy * chunk, col = cx * chunk
        return PixelWindow(col: col, row: row, width: min(chunk, width - col), height: min(chunk, height - row))
    }

    /// The sub-grid of a window, as its own GeoBox on the same lattice.
    public func subBox(_ w: PixelWindow) -> GeoBox {
        GeoBox(crs: crs, resolutionX: resolutionX, resolutionY: resolutionY,
               ix0: ix0 + w.col, iy0: iy0 - w.row, width: w.width, height: w.height, chunk: chunk)
    }

    public func chunkBox(cy: Int, cx: Int) -> GeoBox { subBox(chunkWindow(cy: cy, cx: cx)) }

    /// `w` grown by `halo` pixels on every side, clipped to the grid (`w` itself for 0).
    public func grown(_ w: PixelWindow, by halo: Int) -> PixelWindow {
        guard halo > 0 else { return w }
        let c0 = max(0, w.col - halo), r0 = max(0, w.row - halo)
        let c1 = min(width, w.col + w.width + halo), r1 = min(height, w.row + w.height + halo)
        return PixelWindow(col: c0, row: r0, width: c1 - c0, height: r1 - r0)
    }

    /// The pixels whose scenes a job of chunk (cy, cx) reads: the chunk grown by `halo` (the
    /// spec's `maskFilterHalo`; the mask filters of a chunk's pixels look that far).
    public func searchWindow(cy: Int, cx: Int, halo: Int) -> PixelWindow { grown(chunkWindow(cy: cy, cx: cx), by: halo) }

    /// The window of pixels whose area intersects [minX, maxX] × [minY, maxY] (grid CRS units),
    /// clipped to the grid; nil when they do not meet.
    public func window(covering minX: Double, _ minY: Double, _ maxX: Double, _ maxY: Double) -> PixelWindow? {
        let c0 = max(0, Int((minX / resolutionX).rounded(.down)) - ix0)
        let c1 = min(width, Int((maxX / resolutionX).rounded(.up)) - ix0)
        let r0 = max(0, iy0 - Int((maxY / resolutionY).rounded(.up)))
        let r1 = min(height, iy0 - Int((minY / resolutionY).rounded(.down)))
        guard c1 > c0, r1 > r0 else { return nil }
        return PixelWindow(col: c0, row: r0, width: c1 - c0, height: r1 - r0)
    }
}
