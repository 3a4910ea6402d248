import CubePlan
import CubeSchema
import CubeServe
import CubeSpec
import CubeStore
import Foundation
import Testing

/// The tile server's endpoints on a small written cube (no HTTP: `CubeService.handle`).
@Suite struct CubeServiceTests {
    struct Cube {
        let root: String
        let service: CubeService
        let layout: CubeLayout
        let red: [UInt16]
    }

    /// 72 x 54 pixels at 1/3600° (chunks of 16), bands red and nir; red = 100 + row * 100 + col
    /// except the first chunk, which is left unwritten (no data).
    func cube() throws -> Cube {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)").path
        let spec = try CubeSpec.parse(yaml: """
        name: served
        stac: {items: items.ndjson, collection: sentinel-2-l2a}
        grid: {crs: EPSG:4326, resolution: 1/3600, bbox: [12.0, 45.0, 12.02, 45.015], chunk: 16}
        time: {start: 2024-01-01, end: 2024-01-31}
        bands: [red, nir]
        land_mask: none
        store: \(root)
        """)
        let plan = try Plan.make(spec)
        let store = LocalStore(root: root, durable: false)
        _ = try CubeSchema.initialize(spec: spec, plan: plan, store: store)
        let layout = CubeLayout(spec: spec, plan: plan)
        let grid = layout.grid
        var red = [UInt16](repeating: 0, count: grid.width * grid.height)
        let writer = ChunkWriter(layout: layout, store: store)
        for cy in 0..<grid.chunkRows {
            for cx in 0..<grid.chunkCols where cy + cx > 0 {
                let w = grid.chunkWindow(cy: cy, cx: cx)
                var plane: [UInt16] = []
                for r in 0..<w.height {
                    for c in 0..<w.width {
                        let v = UInt16(100 + (w.row + r) * 100 + (w.col + c))
                        plane.append(v)
                        red[(w.row + r) * grid.width + w.col + c] = v
                    }
                }
                for array in ["red", "nir", "count"] {
                    _ = try plane.withUnsafeBufferPointer { try writer.write(array: array, bin: 0, cy: cy, cx: cx, plane: $0) }
                }
            }
        }
        return Cube(root: root, service: try CubeService(store: store), layout: layout, red: red)
    }

    func json(_ r: CubeService.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: r.body) as? [String: Any])
    }

    @Test func infoPointAndProgress() throws {
        let c = try cube()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        let info = try json(c.service.handle(method: "GET", uri: "/api/info"))
        #expect(info["name"] as? String == "served" && info["bins"] as? [String] == ["2024-01"])
        #expect(info["arrays"] as? [String] == ["red", "nir"] && info["default_bands"] as? [String] == ["red"])
        let grid = c.layout.grid
        for (row, col) in [(20, 30), (53, 71), (3, 3)] {
            let lon = grid.left + (Double(col) + 0.5) * grid.resolutionX
            let lat = grid.top - (Double(row) + 0.5) * grid.resolutionY
            let point = try json(c.service.handle(method: "GET", uri: "/api/point?lon=\(lon)&lat=\(lat)"))
            #expect(point["inside"] as? Bool == true && point["row"] as? Int == row && point["col"] as? Int == col)
            let series = try #require(point["series"] as? [String: [Int]])
            #expect(series["red"] == [Int(c.red[row * grid.width + col])], "pixel (\(row), \(col))")
            #expect(series["count"] == series["red"])
        }
        let outside = try json(c.service.handle(method: "GET", uri: "/api/point?lon=13.5&lat=45.0"))
        #expect(outside["inside"] as? Bool == false)
        let progress = try json(c.service.handle(method: "GET", uri: "/api/progress"))
        #expect(progress["done"] as? Int == 0 && (progress["total"] as? Int ?? 0) == grid.chunkRows * grid.chunkCols)
        #expect(progress["complete"] as? Bool == false && progress["running"] as? Bool == false)
    }

    /// The web-mercator tile holding a lon/lat at zoom z.
    func tile(_ lon: Double, _ lat: Double, z: Int) -> (Int, Int) {
        let n = Double(1 << z)
        let x = Int((lon + 180) / 360 * n)
        let r = lat * .pi / 180
        let y = Int((1 - log(tan(r) + 1 / cos(r)) / .pi) / 2 * n)
        return (x, y)
    }

    @Test func tilesRenderAndBadRequestsSayWhy() throws {
        let c = try cube()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        let (x, y) = tile(12.012, 45.007, z: 15)
        let over = c.service.handle(method: "GET", uri: "/tiles/2024-01/15/\(x)/\(y).png?bands=red&min=0&max=6000")
        #expect(over.status == 200 && over.contentType == "image/png" && over.body.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let away = c.service.handle(method: "GET", uri: "/tiles/2024-01/15/\(x + 40)/\(y).png?bands=red")
        #expect(away.status == 200 && away.body != over.body, "a tile beyond the cube renders empty, not the same")
        let byIndex = c.service.handle(method: "GET", uri: "/tiles/0/15/\(x)/\(y).png?bands=red&min=0&max=6000")
        #expect(byIndex.status == 200 && byIndex.body == over.body, "a bin by index or label")
        for (uri, status, words) in [
            ("/tiles/2024-02/15/\(x)/\(y).png", 400, "no time bin"),
            ("/tiles/2024-01/15/\(x)/\(y).png?bands=red,nir", 400, "1 or 3"),
            ("/tiles/2024-01/15/\(x)/\(y).png?bands=swir16", 400, "no array swir16"),
            ("/tiles/2024-01/15/\(x)/\(y).png?min=5&max=5", 400, "min must be below max"),
            ("/tiles/2024-01/25/0/0.png", 400, "no tile"),
            ("/tiles/2024-01/15/x.png", 400, "tiles are"),
            ("/api/point?lon=12", 400, "give lon and lat"),
            ("/static/../Package.swift", 404, "not found"),
            ("/nothing", 404, "no such page"),
        ] {
            let r = c.service.handle(method: "GET", uri: uri)
            let message = (try? json(r))?["error"] as? String ?? ""
            #expect(r.status == status && message.contains(words), "\(uri): \(r.status) \(message)")
        }
        #expect(c.service.handle(method: "POST", uri: "/api/info").status == 405)
    }
}
