import Composite
import CubeSchema
import CubeStore
import Foundation
import GDALKit

/// A true-colour quicklook of one time bin: decimated to at most `maxSize` pixels a side,
/// each band stretched between its 2nd and 98th percentile, pixels without data transparent.
/// Reads every written chunk of the bin once (absent chunks are transparent).
public struct Quicklook {
    public let layout: CubeLayout
    public let store: any Store

    public init(layout: CubeLayout, store: any Store) {
        self.layout = layout
        self.store = store
    }

    public struct Image {
        public var width: Int
        public var height: Int
        /// R, G, B, A planes.
        public var planes: [[UInt8]]
    }

    /// The band arrays a quicklook can show: uint16 stored values (reflectance), or float32
    /// decoded values of a float32 cube (`ValueDomain.cubeType`); not the float deviations or
    /// indices, which describe no band.
    var bandArrays: [OutputDeclaration] {
        layout.outputs.filter { $0.band != nil && ($0.type == .uint16 || $0.type == .float32) }
    }

    /// The arrays shown: red/green/blue (of the first statistic) when the cube has them, else
    /// the first band array in grey.
    public func defaultBands() -> [String] {
        let arrays = bandArrays
        let rgb = ["red", "green", "blue"].compactMap { band in arrays.first { $0.band == band }?.name }
        if rgb.count == 3 { return rgb }
        return [arrays.first?.name ?? layout.bandNames[0]]
    }

    public func render(bin: Int, bands requested: [String]? = nil, maxSize: Int = 1024) throws -> Image {
        let bands = requested ?? defaultBands()
        guard bands.count == 1 || bands.count == 3 else {
            throw SchemaError("a quicklook needs 1 band (grey) or 3 bands (red, green, blue), got \(bands.count)")
        }
        let names = bandArrays.map(\.name)
        for b in bands where !names.contains(b) {
            throw SchemaError("no band '\(b)' in this cube (bands: \(names.joined(separator: ", ")))")
        }
        guard (0..<layout.plan.bins.count).contains(bin) else { throw SchemaError("no time bin \(bin)") }
        let grid = layout.grid
        let step = max(1, (max(grid.width, grid.height) + maxSize - 1) / max(1, maxSize))
        let w = (grid.width + step - 1) / step, h = (grid.height + step - 1) / step
        // Samples as Double, NaN = no data: a uint16 array's 0, a float32 array's NaN.
        var samples = bands.map { _ in [Double](repeating: .nan, count: w * h) }
        let writer = ChunkWriter(layout: layout, store: store)
        for cy in 0..<grid.chunkRows {
            for cx in 0..<grid.chunkCols {
                let window = grid.chunkWindow(cy: cy, cx: cx)
                for (i, band) in bands.enumerated() {
                    let plane: [Double]
                    if layout.dataType(of: band) == .float32 {
                        guard let f = try writer.read(array: band, bin: bin, cy: cy, cx: cx, as: Float.self) else { continue }
                        plane = f.map { Double($0) }
                    } else {
                        guard let u = try writer.read(array: band, bin: bin, cy: cy, cx: cx) else { continue }
                        plane = u.map { $0 == 0 ? .nan : Double($0) }
                    }
                    // Grid rows/cols that are multiples of `step` inside this chunk.
                    let r0 = (window.row + step - 1) / step * step, c0 = (window.col + step - 1) / step * step
                    var r = r0
                    while r < window.row + window.height {
                        var c = c0
                        while c < window.col + window.width {
                            samples[i][(r / step) * w + c / step] = plane[(r - window.row) * window.width + (c - window.col)]
                            c += step
                        }
                        r += step
                    }
                }
            }
        }
        var alpha = [UInt8](repeating: 0, count: w * h)
        for p in 0..<(w * h) where samples.allSatisfy({ !$0[p].isNaN }) { alpha[p] = 255 }
        var planes = samples.map { band -> [UInt8] in
            let valid = band.indices.filter { alpha[$0] != 0 }.map { band[$0] }.sorted()
            guard !valid.isEmpty else { return [UInt8](repeating: 0, count: band.count) }
            let lo = valid[Int(Double(valid.count - 1) * 0.02)]
            let p98 = valid[Int(Double(valid.count - 1) * 0.98)]
            let hi = p98 > lo ? p98 : lo + 1     // integers: max(lo + 1, p98) as always
            return band.map { v in v.isNaN ? 0 : UInt8(max(0, min(255, ((v - lo) / (hi - lo) * 255).rounded()))) }
        }
        if planes.count == 1 { planes = [planes[0], planes[0], planes[0]] }
        return Image(width: w, height: h, planes: planes + [alpha])
    }

    /// The quicklook as PNG bytes.
    public func png(bin: Int, bands: [String]? = nil, maxSize: Int = 1024) throws -> Data {
        let image = try render(bin: bin, bands: bands, maxSize: maxSize)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cube-quicklook-\(UUID().uuidString).png").path
        defer { unlink(path) }
        try MemoryRaster.writePNG(path: path, width: image.width, height: image.height, planes: image.planes)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }
}
