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

    /// The reflectance arrays a quicklook can show (uint16; not the float deviations).
    var reflectanceArrays: [String] { layout.outputs.filter { $0.type == .uint16 }.map(\.name) }

    /// The arrays shown: red/green/blue (of the first statistic) when the cube has them, else
    /// the first array in grey.
    public func defaultBands() -> [String] {
        let uint16 = layout.outputs.filter { $0.type == .uint16 }
        let rgb = ["red", "green", "blue"].compactMap { band in uint16.first { $0.band == band }?.name }
        if rgb.count == 3 { return rgb }
        return [uint16.first?.name ?? layout.bandNames[0]]
    }

    public func render(bin: Int, bands requested: [String]? = nil, maxSize: Int = 1024) throws -> Image {
        let bands = requested ?? defaultBands()
        guard bands.count == 1 || bands.count == 3 else {
            throw SchemaError("a quicklook needs 1 band (grey) or 3 bands (red, green, blue), got \(bands.count)")
        }
        for b in bands where !reflectanceArrays.contains(b) {
            throw SchemaError("no band '\(b)' in this cube (bands: \(reflectanceArrays.joined(separator: ", ")))")
        }
        guard (0..<layout.plan.bins.count).contains(bin) else { throw SchemaError("no time bin \(bin)") }
        let grid = layout.grid
        let step = max(1, (max(grid.width, grid.height) + maxSize - 1) / max(1, maxSize))
        let w = (grid.width + step - 1) / step, h = (grid.height + step - 1) / step
        var samples = bands.map { _ in [UInt16](repeating: 0, count: w * h) }
        let writer = ChunkWriter(layout: layout, store: store)
        for cy in 0..<grid.chunkRows {
            for cx in 0..<grid.chunkCols {
                let window = grid.chunkWindow(cy: cy, cx: cx)
                for (i, band) in bands.enumerated() {
                    guard let plane = try writer.read(array: band, bin: bin, cy: cy, cx: cx) else { continue }
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
        for p in 0..<(w * h) where samples.allSatisfy({ $0[p] != 0 }) { alpha[p] = 255 }
        var planes = samples.map { band -> [UInt8] in
            let valid = band.indices.filter { alpha[$0] != 0 }.map { band[$0] }.sorted()
            guard !valid.isEmpty else { return [UInt8](repeating: 0, count: band.count) }
            let lo = Double(valid[Int(Double(valid.count - 1) * 0.02)])
            let hi = max(lo + 1, Double(valid[Int(Double(valid.count - 1) * 0.98)]))
            return band.map { v in UInt8(max(0, min(255, ((Double(v) - lo) / (hi - lo) * 255).rounded()))) }
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
