import CubeCore
import CubeGrid
import CubeSpec
import CubeStore
import Foundation
import GDALKit
import Testing

/// A tiny world with a known answer: scenes on exactly the target lattice (EPSG:32633, 10 m,
/// 64 x 64 pixels, 20 m SCL), real COGs written by GDAL, a local ndjson catalog, and a naive
/// per-pixel truth (sort and pick) written independently of the worker's kernels.
final class WorkerWorld {
    static let size = 64
    static let x0 = 500_000.0, top = 5_000_640.0
    static let bands = ["red", "nir"]
    static let invalid: Set<UInt8> = [0, 1, 3, 8, 9, 10]

    struct Scene {
        var id: String
        var datetime: String
        /// DN shift the catalog implies (raster:bands offset / scale, unless the offset was applied).
        var offset: Double?
        var boaApplied: Bool?
        /// Columns the scene covers (outside: nodata in every band and SCL 0).
        var columns: Range<Int>
        /// MGRS tile: scenes of one tile and time are reprocessed copies (deduplicated).
        var tile = "33TXA"
        var bandData: [[UInt16]] = []
        var scl: [UInt8] = []   // 32 x 32

        var shift: Int { boaApplied == true ? 0 : Int(((offset ?? 0) / 0.0001).rounded()) }
    }

    let dir: URL
    var scenes: [Scene]

    init(seed: UInt64 = 1) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        scenes = [
            Scene(id: "S2A_T33_20240302_0", datetime: "2024-03-02T10:00:00Z", offset: nil, columns: 0..<64),
            Scene(id: "S2B_T33_20240307_0", datetime: "2024-03-07T10:00:00Z", offset: -0.1, columns: 0..<64),
            // One pass over two overlapping tiles: one solar day, fused (first valid wins).
            Scene(id: "S2A_T33_20240312_0", datetime: "2024-03-12T10:00:00Z", offset: -0.1, columns: 0..<40),
            Scene(id: "S2A_T33_20240312_1", datetime: "2024-03-12T10:00:01Z", offset: nil, columns: 10..<64, tile: "33TXB"),
            Scene(id: "S2B_T33_20240317_0", datetime: "2024-03-17T10:00:00Z", offset: -0.1, boaApplied: true, columns: 0..<64),
            // Outside the March bin.
            Scene(id: "S2B_T33_20240227_0", datetime: "2024-02-27T10:00:00Z", offset: nil, columns: 0..<64),
        ]
        var rng = SplitMix(seed: seed)
        let classes: [UInt8] = [4, 4, 4, 5, 5, 6, 8, 9, 3, 10, 11, 1]
        let n = Self.size
        for s in scenes.indices {
            scenes[s].bandData = Self.bands.map { _ in
                (0..<(n * n)).map { p in
                    scenes[s].columns.contains(p % n) ? UInt16(1 + rng.next() % 4000) : 0
                }
            }
            // Sprinkle nodata inside the covered area too.
            for p in 0..<(n * n) where rng.next() % 50 == 0 { scenes[s].bandData[Int(rng.next() % 2)][p] = 0 }
            scenes[s].scl = (0..<(n * n / 4)).map { p in
                let col = (p % (n / 2)) * 2
                return scenes[s].columns.contains(col) || scenes[s].columns.contains(col + 1)
                    ? classes[Int(rng.next() % UInt64(classes.count))] : 0
            }
        }
        try writeFiles()
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    private func writeFiles() throws {
        let srs = try SpatialReference.epsg(32633)
        let toLonLat = try CoordinateTransform(from: srs, to: SpatialReference.epsg(4326))
        var lines: [String] = []
        for scene in scenes {
            let folder = dir.appendingPathComponent(scene.id)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            var assets: [String] = []
            for (b, name) in Self.bands.enumerated() {
                try cog(folder.appendingPathComponent("\(name).tif").path, scene.bandData[b], size: Self.size, res: 10, srs: srs)
                let raster = scene.offset.map { #", "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": \#($0)}]"# } ?? ""
                assets.append(#""\#(name)": {"href": "\#(scene.id)/\#(name).tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"], "proj:shape": [64, 64], "proj:transform": [10, 0, \#(Self.x0), 0, -10, \#(Self.top)]\#(raster)}"#)
            }
            try cog(folder.appendingPathComponent("scl.tif").path, scene.scl, size: Self.size / 2, res: 20, srs: srs)
            assets.append(#""scl": {"href": "\#(scene.id)/scl.tif", "roles": ["data"], "proj:shape": [32, 32], "proj:transform": [20, 0, \#(Self.x0), 0, -20, \#(Self.top)]}"#)
            let x1 = Self.x0 + 10 * Double(scene.columns.upperBound), xa = Self.x0 + 10 * Double(scene.columns.lowerBound)
            let corners = toLonLat.transform([(xa, Self.top - 640), (x1, Self.top - 640), (x1, Self.top), (xa, Self.top), (xa, Self.top - 640)])
            let ring = corners.map { "[\($0.x), \($0.y)]" }.joined(separator: ", ")
            let boa = scene.boaApplied.map { #", "earthsearch:boa_offset_applied": \#($0)"# } ?? ""
            lines.append(#"{"type": "Feature", "stac_version": "1.0.0", "id": "\#(scene.id)", "collection": "sentinel-2-l2a", "geometry": {"type": "Polygon", "coordinates": [[\#(ring)]]}, "properties": {"datetime": "\#(scene.datetime)", "grid:code": "MGRS-\#(scene.tile)", "proj:epsg": 32633\#(boa)}, "assets": {\#(assets.joined(separator: ", "))}, "links": []}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("items.ndjson"), atomically: true, encoding: .utf8)
    }

    private func cog<T: RasterElement>(_ path: String, _ data: [T], size: Int, res: Double, srs: SpatialReference) throws {
        let plain = path + ".plain.tif"
        try RasterWriter.writeGeoTIFF(path: plain, width: size, height: size, data: data,
                                      geoTransform: GeoTransform(Self.x0, res, 0, Self.top, 0, -res), crs: srs, noData: 0)
        try RasterWriter.translate(plain, to: path, format: "COG", creationOptions: ["COMPRESS=DEFLATE", "BLOCKSIZE=32"])
        try FileManager.default.removeItem(atPath: plain)
    }

    /// The spec of a cube over the scenes (grid = the scenes' lattice, 2 x 2 chunks of 32).
    func spec(store: String, start: String = "2024-03-01", end: String = "2024-03-31", resampling: String = "nearest",
              fuse: String = "first-data") -> String {
        """
        name: worker-test
        stac:
          items: items.ndjson
          collection: sentinel-2-l2a
        grid:
          crs: EPSG:32633
          resolution: 10
          bbox: [\(Self.x0), \(Self.top - 640), \(Self.x0 + 640), \(Self.top)]
          bbox_crs: grid
          chunk: 32
        time: {start: \(start), end: \(end)}
        bands: [red, nir]
        resampling: \(resampling)
        fuse: \(fuse)
        land_mask: none
        store: \(store)
        """
    }

    /// Expected (medians per band, count) over the whole 64 x 64 grid for March, from the
    /// rules in docs/compositing.md, without any of the worker's code: per pixel, per solar
    /// day the first scene in (datetime, id) order with data there (`first-data`: SCL not 0
    /// and, for a clear class, every band nonzero; masked if its class is invalid) or the
    /// first valid one (`first-valid`); median of the valid values (even: mean of the middle
    /// two, rounded half up); harmonised values clamped to >= 1.
    func truth(excluding excluded: Set<String> = [], fuse: FusionRule = .firstData) -> (medians: [[UInt16]], count: [UInt16]) {
        let n = Self.size
        let march = scenes.filter { $0.datetime.hasPrefix("2024-03") && !excluded.contains($0.id) }
        let days = Dictionary(grouping: march) { String($0.datetime.prefix(10)) }
        var medians = Self.bands.map { _ in [UInt16](repeating: 0, count: n * n) }
        var count = [UInt16](repeating: 0, count: n * n)
        for p in 0..<(n * n) {
            let r = p / n, c = p % n
            var values = Self.bands.map { _ in [Int]() }
            for day in days.keys.sorted() {
                let ordered = days[day]!.sorted { ($0.datetime, $0.id) < ($1.datetime, $1.id) }
                for s in ordered {
                    let cls = s.scl[(r / 2) * (n / 2) + c / 2]
                    let raw = s.bandData.map { Int($0[p]) }
                    let clear = !Self.invalid.contains(cls), bandsOK = raw.allSatisfy({ $0 != 0 })
                    guard clear, bandsOK else {
                        if fuse == .firstData, cls != 0, !clear || bandsOK { break }
                        continue
                    }
                    for b in raw.indices { values[b].append(min(65535, max(1, raw[b] + s.shift))) }
                    break
                }
            }
            count[p] = UInt16(values[0].count)
            for b in values.indices where !values[b].isEmpty {
                let v = values[b].sorted(), k = v.count
                medians[b][p] = UInt16(k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2] + 1) / 2)
            }
        }
        return (medians, count)
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A store that fails every put whose key starts with `failingPrefix` (a full disk, a lost
/// bucket) and otherwise behaves like the local store it wraps.
final class FailingStore: Store, @unchecked Sendable {
    let inner: LocalStore
    var failingPrefix: String?
    init(_ inner: LocalStore, failingPrefix: String?) {
        self.inner = inner
        self.failingPrefix = failingPrefix
    }
    var description: String { inner.description }
    func get(_ key: String) throws -> Data? { try inner.get(key) }
    func put(_ key: String, _ data: Data) throws {
        if let failingPrefix, key.hasPrefix(failingPrefix) {
            throw StoreError.io(operation: "write", key: key, store: description, errno: 28, message: "No space left on device (injected)")
        }
        try inner.put(key, data)
    }
    func createIfAbsent(_ key: String, _ data: Data) throws -> Bool { try inner.createIfAbsent(key, data) }
    func exists(_ key: String) throws -> Bool { try inner.exists(key) }
    func list(prefix: String) throws -> [String] { try inner.list(prefix: prefix) }
    func listChildren(prefix: String) throws -> StoreChildren { try inner.listChildren(prefix: prefix) }
    func delete(_ key: String) throws { try inner.delete(key) }
}
