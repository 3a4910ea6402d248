import Composite
import CubeSchema

/// Every plane one job writes, in one allocation, in store order: the composite's outputs
/// (each of its declared type), `count`, then a mixed cube's per-sensor counts (uint16). A
/// strip's pixels are one contiguous slice of each plane.
final class JobPlanes {
    let pixels: Int
    /// Array names, plane by plane.
    let names: [String]
    let sensorCountNames: [String]
    private let planes: OutputPlanes
    private let outputCount: Int

    init(outputs: [OutputDeclaration], sensorCounts: [String], pixels: Int) {
        self.pixels = pixels
        sensorCountNames = sensorCounts
        outputCount = outputs.count
        let counts = ([CubeLayout.countArray] + sensorCounts).map { name in
            OutputDeclaration(name: name, type: .uint16, statistic: "count", band: nil, longName: name, rule: "count",
                              units: "1")
        }
        names = outputs.map(\.name) + counts.map(\.name)
        planes = OutputPlanes(outputs + counts, pixels: pixels)
    }

    /// Every plane's slice for `range`, in store order (outputs, count, sensor counts).
    func all(pixels range: Range<Int>) -> [UnsafeMutableRawBufferPointer] { planes.planes(pixels: range) }

    /// The composite's output planes for `range`, in `recipe.outputs` order.
    func outputs(pixels range: Range<Int>) -> [UnsafeMutableRawBufferPointer] {
        Array(planes.planes(pixels: range)[0..<outputCount])
    }

    func count(pixels range: Range<Int>) -> UnsafeMutableBufferPointer<UInt16> {
        planes.planes(pixels: range)[outputCount].bindMemory(to: UInt16.self)
    }

    func sensorCount(_ s: Int, pixels range: Range<Int>) -> UnsafeMutableBufferPointer<UInt16> {
        planes.planes(pixels: range)[outputCount + 1 + s].bindMemory(to: UInt16.self)
    }

    /// Pixels with at least one valid observation.
    var validPixels: Int { count(pixels: 0..<pixels).reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
}

/// The output planes of one job, in one allocation: plane i holds `pixels` values of
/// `outputs[i].type`, so a strip's pixels are one contiguous slice of each plane.
final class OutputPlanes {
    private let buffer: UnsafeMutableRawBufferPointer
    private let offsets: [Int]
    private let widths: [Int]

    init(_ outputs: [OutputDeclaration], pixels: Int) {
        widths = outputs.map(\.type.byteWidth)
        var offsets: [Int] = []
        var total = 0
        for w in widths {
            offsets.append(total)
            total += (w * pixels + 15) & ~15
        }
        self.offsets = offsets
        buffer = .allocate(byteCount: max(total, 16), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { buffer.deallocate() }

    /// Every plane's slice for pixels `range`.
    func planes(pixels range: Range<Int>) -> [UnsafeMutableRawBufferPointer] {
        zip(offsets, widths).map { offset, width in
            UnsafeMutableRawBufferPointer(rebasing: buffer[(offset + range.lowerBound * width)..<(offset + range.upperBound * width)])
        }
    }
}
