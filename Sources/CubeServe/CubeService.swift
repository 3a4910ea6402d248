import CubeGrid
import CubeJobs
import CubePlan
import CubeSchema
import CubeStore
import Foundation
import GDALKit
import JSON

/// What `cube serve` answers, independent of HTTP: the page and its map library, map tiles,
/// the cube's description, a pixel's time series and the build's progress.
public final class CubeService: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: Data
        public var cacheSeconds: Int = 0

        static func json(_ value: JSONValue, status: Int = 200) -> Response {
            Response(status: status, contentType: "application/json", body: value.data(pretty: false))
        }
        static func error(_ status: Int, _ message: String) -> Response {
            json(["error": .string(message)], status: status)
        }
    }

    public let store: any Store
    let layout: CubeLayout
    let plan: Plan
    let name: String
    let scaleFactor: Double
    let addOffset: Double
    let renderer: TileRenderer
    let resources: URL?

    public init(store: any Store) throws {
        self.store = store
        let (spec, plan, layout) = try CubeSchema.open(store: store)
        self.layout = layout
        self.plan = plan
        name = spec.name
        // What the stored integers mean comes from the cube's sensors (`ValueDomain`).
        scaleFactor = spec.valueDomain.scaleFactor
        addOffset = spec.valueDomain.addOffset
        renderer = TileRenderer(layout: layout, store: store)
        resources = Bundle.module.url(forResource: "Resources", withExtension: nil)
    }

    /// The uint16 arrays a map can show (the float deviations are not reflectance).
    var mapArrays: [String] { layout.outputs.filter { $0.type == .uint16 }.map(\.name) }

    /// Band arrays of a float32 cube (`ValueDomain.cubeType`): decoded values the map does not
    /// draw yet (tiles and the point series stretch stored integers).
    var floatBandArrays: [(name: String, units: String)] {
        layout.outputs.filter { $0.type == .float32 && $0.band != nil }.map { ($0.name, $0.units) }
    }

    var defaultBands: [String] {
        let uint16 = layout.outputs.filter { $0.type == .uint16 }
        let rgb = ["red", "green", "blue"].compactMap { band in uint16.first { $0.band == band }?.name }
        return rgb.count == 3 ? rgb : [uint16.first?.name ?? CubeLayout.countArray]
    }

    public func handle(method: String, uri: String) -> Response {
        guard method == "GET" || method == "HEAD" else { return .error(405, "only GET") }
        let parts = uri.split(separator: "?", maxSplits: 1)
        let path = String(parts.first ?? "/")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                query[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
        }
        do {
            switch path {
            case "/", "/index.html": return try file("index.html")
            case "/api/info": return .json(info())
            case "/api/progress": return .json(try progress())
            case "/api/point": return try point(query)
            default:
                if path.hasPrefix("/tiles/") { return try tile(path, query) }
                if path.hasPrefix("/static/") { return try file(String(path.dropFirst("/static/".count))) }
                return .error(404, "no such page: \(path)")
            }
        } catch let e as RequestError {
            return .error(400, e.message)
        } catch {
            return .error(500, "\(error)")
        }
    }

    struct RequestError: Error { let message: String }

    // MARK: static files

    func file(_ relative: String) throws -> Response {
        guard let resources, !relative.contains(".."), !relative.hasPrefix("/") else { return .error(404, "not found") }
        let url = resources.appendingPathComponent(relative)
        guard let data = try? Data(contentsOf: url) else { return .error(404, "not found: \(relative)") }
        let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                     "css": "text/css; charset=utf-8", "png": "image/png", "svg": "image/svg+xml"]
        return Response(status: 200, contentType: types[url.pathExtension] ?? "application/octet-stream", body: data)
    }

    // MARK: description

    /// The bins readers see (an appended bin joins once complete; see CubeSchema.publish).
    var publishedBins: [TimeBin] {
        let n = (try? Publication.readVisible(store, binCount: plan.bins.count).bins) ?? plan.bins.count
        return Array(plan.bins.prefix(n))
    }

    func info() -> JSONValue {
        let fp = try? layout.grid.lonLatFootprint(densify: 8)
        var info: JSONValue = [
            "name": .string(name),
            "bins": .array(publishedBins.map { .string($0.label) }),
            "arrays": .strings(mapArrays),
            "default_bands": .strings(defaultBands),
            "levels": .int(Int64(layout.levels.count)),
            "bounds": fp?.bbox.map { .array($0.array.map { .double($0) }) } ?? .null,
            "crs": .string(layout.grid.crs.description),
            // Reflectance is stored as value * 10000: 0–3000 shows land well.
            "stretch": [0, 3000],
            "scale_factor": .double(scaleFactor), "add_offset": .double(addOffset),
        ]
        let floats = floatBandArrays
        if !floats.isEmpty, case .object(var o) = info {
            o["float_arrays"] = .strings(floats.map { $0.name })
            o["note"] = .string("float32 band arrays (decoded \(floats[0].units), no scale_factor) are not drawn by the map; it shows count")
            info = .object(o)
        }
        return info
    }

    func progress() throws -> JSONValue {
        let ledger = JobLedger(store: store, plan: plan)
        let done = try ledger.doneJobs().count
        let total = JobID.all(in: plan).count
        let running = try RunLock.read(store)
        let complete = try CubeSchema.isComplete(store: store, layout: layout)
        return ["done": .int(Int64(done)), "total": .int(Int64(total)), "complete": .bool(complete),
                "running": .bool(running != nil)]
    }

    // MARK: tiles

    /// `/tiles/{bin}/{z}/{x}/{y}.png?bands=red,green,blue&min=0&max=3000`
    func tile(_ path: String, _ query: [String: String]) throws -> Response {
        let p = path.split(separator: "/")
        guard p.count == 5, let z = Int(p[2]), let x = Int(p[3]), p[4].hasSuffix(".png"),
              let y = Int(p[4].dropLast(4)) else { throw RequestError(message: "tiles are /tiles/BIN/Z/X/Y.png") }
        let binText = String(p[1])
        let bins = publishedBins
        guard let bin = bins.firstIndex(where: { $0.label == binText }) ?? Int(binText).flatMap({ bins.indices.contains($0) ? $0 : nil })
        else { throw RequestError(message: "no time bin \(binText)") }
        guard (0...24).contains(z), x >= 0, y >= 0, x < 1 << z, y < 1 << z else { throw RequestError(message: "no tile \(z)/\(x)/\(y)") }
        let bands = query["bands"].map { $0.split(separator: ",").map(String.init) } ?? defaultBands
        guard bands.count == 1 || bands.count == 3 else { throw RequestError(message: "bands: give 1 or 3 arrays") }
        for b in bands where !(mapArrays + [CubeLayout.countArray]).contains(b) {
            if let f = floatBandArrays.first(where: { $0.name == b }) {
                throw RequestError(message: "array \(b) holds float32 values (\(f.units)); the map draws uint16 arrays and count only")
            }
            throw RequestError(message: "no array \(b) (arrays: \(mapArrays.joined(separator: ", ")))")
        }
        let lo = Double(query["min"] ?? "") ?? 0, hi = Double(query["max"] ?? "") ?? 3000
        guard lo.isFinite, hi.isFinite, hi > lo else { throw RequestError(message: "min must be below max") }
        let (png, level) = try renderer.render(.init(bin: bin, z: z, x: x, y: y, bands: bands, min: lo, max: hi))
        _ = level
        return Response(status: 200, contentType: "image/png", body: png, cacheSeconds: 60)
    }

    // MARK: a pixel's time series

    /// `/api/point?lon=..&lat=..`: every bin's values of the map arrays and the count at the
    /// base-level pixel under the point (stored integers; value = stored * scale_factor + add_offset).
    func point(_ query: [String: String]) throws -> Response {
        guard let lon = Double(query["lon"] ?? ""), let lat = Double(query["lat"] ?? "") else {
            throw RequestError(message: "give lon and lat")
        }
        let grid = layout.grid
        var x = lon, y = lat
        if !(grid.crs.isGeographic && grid.crs.epsg == 4326) {
            let p = try CRS.lonLat.transform(to: grid.crs).transform([(lon, lat)])[0]
            (x, y) = (p.x, p.y)
        }
        let col = Int(((x - grid.left) / grid.resolutionX).rounded(.down))
        let row = Int(((grid.top - y) / grid.resolutionY).rounded(.down))
        guard x.isFinite, y.isFinite, col >= 0, row >= 0, col < grid.width, row < grid.height else {
            return .json(["inside": false, "lon": .double(lon), "lat": .double(lat)])
        }
        let cy = row / grid.chunk, cx = col / grid.chunk
        let w = grid.chunkWindow(cy: cy, cx: cx)
        let i = (row - w.row) * w.width + (col - w.col)
        var series: [String: JSONValue] = [:]
        let published = publishedBins
        for array in mapArrays + [CubeLayout.countArray] {
            series[array] = .array(try published.indices.map { bin in
                let plane = try renderer.chunk(array: array, level: 0, bin: bin, cy: cy, cx: cx)
                return .int(Int64(plane?[i] ?? 0))
            })
        }
        return .json([
            "inside": true, "lon": .double(lon), "lat": .double(lat), "row": .int(Int64(row)), "col": .int(Int64(col)),
            "bins": .array(published.map { .string($0.label) }), "series": .object(series), "scale_factor": .double(scaleFactor),
            "add_offset": .double(addOffset),
        ])
    }
}
