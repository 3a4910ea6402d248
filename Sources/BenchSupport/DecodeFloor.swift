import ChunkWorker
import CubeCore
import CubeGrid
import CubeJobs
import CubeSpec
import Foundation
import GDALKit
import SceneWarp
import StacSearch

/// The benchmark's "decode floor" of a job: what GDAL alone needs to open every scene asset the
/// job would touch (every scene of every observation, the mask and every band) and decode
/// exactly the source windows the chunk needs, without any warping, masking or reduction.
/// The windows come from the same read plans the worker uses; the timed part starts from a
/// cold GDAL cache and new datasets.
public struct DecodeFloor {
    public struct Result: Codable, Sendable {
        public var seconds: Double
        public var windows: Int
        public var pixels: Int
        public var bytes_downloaded: Int
        public var scenes: Int
    }

    public static func measure(cube: OpenCube, job: JobID) throws -> Result {
        let grid = cube.plan.grid
        let bin = cube.plan.bins[job.bin]
        let window = grid.chunkWindow(cy: job.cy, cx: job.cx)
        let target = grid.subBox(window)
        let footprint = try grid.lonLatFootprint(window)
        let searcher = StacSearcher(source: try cube.stacSource)
        let result = try searcher.search(footprint: footprint, interval: DateInterval(start: bin.start, end: bin.end),
                                         maxCloudCover: cube.spec.stac.maxCloudCover)
        let observations = searcher.observations(from: result.items, footprint: footprint).observations

        // Untimed: the windows each asset needs, from the worker's own read plans.
        let reader = SceneReader()
        var reads: [(href: String, window: PixelWindow)] = []
        var scenes = 0
        for observation in observations {
            for scene in observation.scenes {
                let keys = cube.spec.sensor(for: scene.collection).map { [$0.mask.asset].compactMap { $0 } + cube.spec.bandAssets($0) } ?? []
                var any = false
                for key in keys {
                    guard let asset = scene.assets[key],
                          let plan = try? reader.plan(href: asset.href, target: target, resampling: .nearest),
                          let w = plan.window, !plan.isEmpty else { continue }
                    reads.append((asset.href, w))
                    any = true
                }
                if any { scenes += 1 }
            }
        }
        reader.clearCaches()
        GDAL.clearNetworkCache()
        NetworkStats.enable()
        NetworkStats.reset()

        // Timed: open and decode.
        let start = DispatchTime.now().uptimeNanoseconds
        var pixels = 0
        var scratch = [UInt16](repeating: 0, count: 0)
        for (href, w) in reads {
            let dataset = try Dataset(path: gdalPath(forHref: href))
            let band = try dataset.band(1)
            if band.bytesPerSample == 1 {
                var bytes = [UInt8](repeating: 0, count: w.pixelCount)
                try bytes.withUnsafeMutableBufferPointer { try band.read(x: w.col, y: w.row, width: w.width, height: w.height, into: $0) }
            } else {
                if scratch.count < w.pixelCount { scratch = [UInt16](repeating: 0, count: w.pixelCount) }
                try scratch.withUnsafeMutableBufferPointer {
                    try band.read(x: w.col, y: w.row, width: w.width, height: w.height,
                                  into: UnsafeMutableBufferPointer(rebasing: $0[0..<w.pixelCount]))
                }
            }
            pixels += w.pixelCount
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Result(seconds: seconds, windows: reads.count, pixels: pixels,
                      bytes_downloaded: NetworkStats.snapshot().bytesDownloaded, scenes: scenes)
    }
}
