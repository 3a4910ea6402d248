import CubePlan
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import Testing

/// One small cube the consumer tests build: a grid, a Zarr format and a few bands, chosen so
/// the grid has partial edge chunks and the bbox is off the pixel lattice (exercises snapping).
struct TestGridCase: CustomTestStringConvertible, Sendable {
    let label: String
    let crs: String
    let epsg: Int
    /// Resolution as numerator / denominator, so Python can rebuild it without our parser.
    let resolution: (numerator: Double, denominator: Double)
    let resolutionText: String
    /// In the grid CRS (bbox_crs: grid), except for EPSG:4326 where lon/lat is the grid CRS.
    let bbox: [Double]
    let bboxCRS: String
    let chunk: Int
    let zarrFormat: Int
    let bands: [String]
    let timeStart: String
    let timeEnd: String

    var testDescription: String { "\(label) v\(zarrFormat)" }

    static let geographic = TestGridCase(
        label: "EPSG:4326 1/3600", crs: "EPSG:4326", epsg: 4326, resolution: (1, 3600), resolutionText: "1/3600",
        bbox: [11.8501, 45.2001, 11.8641, 45.2101], bboxCRS: "lonlat", chunk: 16, zarrFormat: 3,
        bands: ["red", "green", "nir"], timeStart: "2024-01-01", timeEnd: "2024-03-31")
    static let utm = TestGridCase(
        label: "EPSG:32632 10 m", crs: "EPSG:32632", epsg: 32632, resolution: (10, 1), resolutionText: "10",
        bbox: [600003.0, 5000001.0, 600503.0, 5000371.0], bboxCRS: "grid", chunk: 16, zarrFormat: 3,
        bands: ["red", "nir"], timeStart: "2024-02-01", timeEnd: "2024-03-15")
    static let laea = TestGridCase(
        label: "EPSG:3035 20 m", crs: "EPSG:3035", epsg: 3035, resolution: (20, 1), resolutionText: "20",
        bbox: [4300005.0, 2500007.0, 4300645.0, 2500747.0], bboxCRS: "grid", chunk: 16, zarrFormat: 3,
        bands: ["blue", "green", "red"], timeStart: "2023-11-01", timeEnd: "2024-01-31")

    func with(format: Int) -> TestGridCase {
        TestGridCase(label: label, crs: crs, epsg: epsg, resolution: resolution, resolutionText: resolutionText,
                     bbox: bbox, bboxCRS: bboxCRS, chunk: chunk, zarrFormat: format, bands: bands,
                     timeStart: timeStart, timeEnd: timeEnd)
    }

    static let all: [TestGridCase] = [geographic, utm, laea].flatMap { [$0.with(format: 3), $0.with(format: 2)] }

    func yaml(bands: [String]? = nil) -> String {
        """
        name: consumer-test
        stac:
          api: http://127.0.0.1:9
          collection: sentinel-2-l2a
        grid:
          crs: \(crs)
          resolution: \(resolutionText)
          bbox: [\(bbox.map { "\($0)" }.joined(separator: ", "))]
          bbox_crs: \(bboxCRS)
          chunk: \(chunk)
        time:
          start: \(timeStart)
          end: \(timeEnd)
          step: 1 month
        bands: [\((bands ?? self.bands).joined(separator: ", "))]
        land_mask: none
        zarr_format: \(zarrFormat)
        store: cube.zarr

        """
    }

    func spec(bands: [String]? = nil) throws -> CubeSpec {
        try CubeSpec.parse(yaml: yaml(bands: bands))
    }
}

/// The known value of a pixel, so any reader can check what it got without the writer:
/// `1 + (bin*7 + row*3 + col + array*11) % 60000` over global pixel indices (never 0 = nodata).
enum KnownValues {
    static let binFactor = 7, rowFactor = 3, colFactor = 1, arrayFactor = 11, modulus = 60000

    @inline(__always) static func value(array: Int, bin: Int, row: Int, col: Int) -> UInt16 {
        UInt16(1 + (bin * binFactor + row * rowFactor + col * colFactor + array * arrayFactor) % modulus)
    }

    /// Which chunks get written: about two in three, the pattern shifting with bin and array so
    /// every case has written and unwritten chunks, full and partial ones.
    static func isWritten(array: Int, bin: Int, cy: Int, cx: Int) -> Bool {
        (cy + 2 * cx + bin + array) % 3 != 2
    }
}

/// A cube written into a temporary folder: schema by `CubeSchema.initialize`, data through
/// `ChunkWriter`, plus the EXPECT.json the Python checker compares against.
struct WrittenCube {
    let folder: String
    let storePath: String
    let expectPath: String
    let written: [(array: String, bin: Int, cy: Int, cx: Int)]

    static func make(_ testCase: TestGridCase) throws -> WrittenCube {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("cubeschema-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let storePath = folder + "/cube.zarr"
        let spec = try testCase.spec()
        let plan = try Plan.make(spec)
        let store = LocalStore(root: storePath, durable: false)
        let outcome = try CubeSchema.initialize(spec: spec, plan: plan, store: store)
        guard outcome == .created else { throw SchemaError("initialize returned \(outcome), expected .created") }

        let layout = CubeLayout(spec: spec, plan: plan)
        let writer = ChunkWriter(layout: layout, store: store)
        let grid = layout.grid
        var written: [(String, Int, Int, Int)] = []
        var plane: [UInt16] = []
        for (arrayIndex, array) in layout.dataArrays.enumerated() {
            for bin in 0..<plan.bins.count {
                for cy in 0..<grid.chunkRows {
                    for cx in 0..<grid.chunkCols where KnownValues.isWritten(array: arrayIndex, bin: bin, cy: cy, cx: cx) {
                        let window = grid.chunkWindow(cy: cy, cx: cx)
                        plane.removeAll(keepingCapacity: true)
                        for r in 0..<window.height {
                            for c in 0..<window.width {
                                plane.append(KnownValues.value(array: arrayIndex, bin: bin,
                                                               row: window.row + r, col: window.col + c))
                            }
                        }
                        try plane.withUnsafeBufferPointer {
                            _ = try writer.write(array: array, bin: bin, cy: cy, cx: cx, plane: $0)
                        }
                        written.append((array, bin, cy, cx))
                    }
                }
            }
        }

        let expectPath = folder + "/expect.json"
        try expectation(testCase, arrays: layout.dataArrays, written: written).write(to: URL(fileURLWithPath: expectPath))
        return WrittenCube(folder: folder, storePath: storePath, expectPath: expectPath,
                           written: written.map { (array: $0.0, bin: $0.1, cy: $0.2, cx: $0.3) })
    }

    /// Only the spec's inputs and the value rule: the checker derives grid, bins and values itself.
    static func expectation(_ t: TestGridCase, arrays: [String], written: [(String, Int, Int, Int)]) throws -> Data {
        let document: [String: Any] = [
            "zarr_format": t.zarrFormat,
            "crs": t.crs,
            "epsg": t.epsg,
            "resolution": [t.resolution.numerator, t.resolution.denominator],
            "bbox": t.bbox,
            "chunk": t.chunk,
            "time": ["start": t.timeStart, "end": t.timeEnd, "step_months": 1],
            "bands": t.bands,
            "arrays": arrays,
            "values": ["bin": KnownValues.binFactor, "row": KnownValues.rowFactor, "col": KnownValues.colFactor,
                       "array": KnownValues.arrayFactor, "modulus": KnownValues.modulus, "offset": 1],
            "written": written.map { [$0.0, $0.1, $0.2, $0.3] as [Any] },
        ]
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted])
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}
