import CubeGrid
import GDALKit

/// One level of a cube's multiscale pyramid: level 0 is the cube's grid, level L has pixels
/// 2^L times as large, anchored at the same top-left corner (so a level-L pixel covers exactly
/// 2^L x 2^L base pixels, the last row and column possibly fewer) and the same chunk edge.
/// Not a `GeoBox`: a coarser pixel need not sit on the CRS lattice the base grid is snapped to.
public struct PyramidLevel: Sendable, Equatable {
    public let level: Int
    /// Base pixels per level pixel along each axis (2^level).
    public let factor: Int
    public let width: Int
    public let height: Int
    public let chunk: Int
    public let left: Double
    public let top: Double
    public let resolutionX: Double
    public let resolutionY: Double
    /// The base grid's lattice origin and pixel size: coordinates are computed from integers
    /// as `GeoBox` does, so level 0's are bit for bit the base grid's.
    let ix0: Int, iy0: Int
    let baseResolutionX: Double, baseResolutionY: Double

    public init(base: GeoBox, level: Int) {
        precondition(level >= 0 && level < 40)
        self.level = level
        factor = 1 << level
        width = (base.width + factor - 1) / factor
        height = (base.height + factor - 1) / factor
        chunk = base.chunk
        left = base.left
        top = base.top
        resolutionX = base.resolutionX * Double(factor)
        resolutionY = base.resolutionY * Double(factor)
        ix0 = base.ix0
        iy0 = base.iy0
        baseResolutionX = base.resolutionX
        baseResolutionY = base.resolutionY
    }

    /// Levels from the base until one chunk covers the whole grid.
    public static func all(base: GeoBox) -> [PyramidLevel] {
        var levels = [PyramidLevel(base: base, level: 0)]
        while let last = levels.last, max(last.width, last.height) > last.chunk {
            levels.append(PyramidLevel(base: base, level: last.level + 1))
        }
        return levels
    }

    public var chunkRows: Int { (height + chunk - 1) / chunk }
    public var chunkCols: Int { (width + chunk - 1) / chunk }

    public func chunkWindow(cy: Int, cx: Int) -> PixelWindow {
        let row = cy * chunk, col = cx * chunk
        return PixelWindow(col: col, row: row, width: min(chunk, width - col), height: min(chunk, height - row))
    }

    /// GDAL order, north up.
    public var geoTransform: GeoTransform { GeoTransform(left, resolutionX, 0, top, 0, -resolutionY) }

    public var xCoordinates: [Double] {
        (0..<width).map { (Double(ix0 + $0 * factor) + 0.5 * Double(factor)) * baseResolutionX }
    }
    public var yCoordinates: [Double] {
        (0..<height).map { (Double(iy0 - $0 * factor) - 0.5 * Double(factor)) * baseResolutionY }
    }
}
