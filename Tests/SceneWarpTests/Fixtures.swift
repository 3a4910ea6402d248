import CubeGrid
import Foundation
import GDALKit
import Testing

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("scenewarp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// Deterministic pseudo-random samples (splitmix64) in 1...maxValue: neighbouring pixels almost
/// never share a value, so a pick off by one pixel shows up as a wrong value.
func randomSamples<T: FixedWidthInteger>(_ count: Int, seed: UInt64, maxValue: T, as: T.Type = T.self) -> [T] {
    var state = seed
    return (0..<count).map { _ in
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return T(1 + z % UInt64(maxValue))
    }
}

/// A source raster on disk and its samples.
struct SourceRaster<T: RasterElement> {
    let path: String
    let width: Int, height: Int
    let geoTransform: GeoTransform
    let data: [T]
    subscript(row: Int, col: Int) -> T { data[row * width + col] }
}

/// Writes a tiled DEFLATE COG (256 px blocks, no overviews so every read is full resolution).
func makeCOG<T: RasterElement>(in dir: TempDir, name: String, width: Int, height: Int,
                               geoTransform: GeoTransform, epsg: Int, data: [T],
                               noData: Double? = nil) throws -> SourceRaster<T> {
    let plain = dir.path(name + ".plain.tif"), cog = dir.path(name)
    try RasterWriter.writeGeoTIFF(path: plain, width: width, height: height, data: data,
                                  geoTransform: geoTransform, crs: try SpatialReference.epsg(epsg),
                                  noData: noData)
    try RasterWriter.translate(plain, to: cog, format: "COG",
                               creationOptions: ["COMPRESS=DEFLATE", "BLOCKSIZE=256", "OVERVIEWS=NONE"])
    try FileManager.default.removeItem(atPath: plain)
    return SourceRaster(path: cog, width: width, height: height, geoTransform: geoTransform, data: data)
}

/// Runs a program and returns its standard output; fails the test with stderr on a non-zero exit.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure("\(executable) \(arguments.joined(separator: " ")) failed: \(String(decoding: stderr, as: UTF8.self))")
    }
    return String(decoding: stdout, as: UTF8.self)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let venvPython = repoRoot.appendingPathComponent(".venv/bin/python").path

/// The independent nearest-neighbour reference: pyproj transforms every target pixel centre
/// into the source CRS, and the containing source pixel is taken with numpy. Returns the
/// reference plane as raw samples.
/// `overviewLevel` > 0: the source is that overview of the file (rasterio's `overview_level`,
/// which counts from 0 for the first overview), on its own lattice.
func pyprojReference<T: RasterElement>(source: String, sourceEPSG: Int, target: GeoBox, in dir: TempDir,
                                       as: T.Type, overviewLevel: Int = 0) throws -> [T] {
    let script = dir.path("reference.py"), output = dir.path("reference-\(UUID().uuidString).raw")
    try """
    import json, sys
    import numpy as np, rasterio
    from pyproj import Transformer
    src, params, out, level = sys.argv[1:5]
    p = json.loads(params)
    kw = {"overview_level": int(level) - 1} if int(level) > 0 else {}
    with rasterio.open(src, **kw) as ds:
        data = ds.read(1)
        a, b, _, d, _, f = ds.transform.to_gdal()
    H, W = data.shape
    x = (p["ix0"] + np.arange(p["w"]) + 0.5) * p["rx"]
    y = (p["iy0"] - np.arange(p["h"]) - 0.5) * p["ry"]
    X, Y = np.meshgrid(x, y)
    t = Transformer.from_crs(p["crs"], p["src_crs"], always_xy=True)
    sx, sy = t.transform(X.ravel(), Y.ravel())
    with np.errstate(invalid="ignore"):
        c = np.floor((sx - a) / b)
        r = np.floor((sy - d) / f)
        ok = np.isfinite(c) & np.isfinite(r) & (c >= 0) & (c < W) & (r >= 0) & (r < H)
    res = np.zeros(X.size, dtype=data.dtype)
    res[ok] = data[r[ok].astype(np.int64), c[ok].astype(np.int64)]
    res.tofile(out)
    """.write(toFile: script, atomically: true, encoding: .utf8)
    let params = """
    {"crs": "\(target.crs.definition)", "src_crs": "EPSG:\(sourceEPSG)", "rx": \(target.resolutionX), \
    "ry": \(target.resolutionY), "ix0": \(target.ix0), "iy0": \(target.iy0), "w": \(target.width), "h": \(target.height)}
    """
    try run(venvPython, [script, source, params, output, "\(overviewLevel)"])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
    return bytes.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
}

/// Reads a whole single-band raster (e.g. a gdalwarp output) with GDALKit.
func readWhole<T: RasterElement & Numeric>(_ path: String, as: T.Type) throws -> (width: Int, height: Int, data: [T]) {
    let ds = try Dataset(path: path)
    var data = [T](repeating: 0, count: ds.width * ds.height)
    try data.withUnsafeMutableBufferPointer {
        try ds.band(1).read(x: 0, y: 0, width: ds.width, height: ds.height, into: $0)
    }
    return (ds.width, ds.height, data)
}
