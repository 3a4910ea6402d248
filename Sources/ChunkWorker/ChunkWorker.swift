import Composite
import CubeGrid
import CubeJobs
import CubePlan
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import StacItems
import Synchronization
import GDALKit
import HTTPClient
import SceneIndex
import SceneWarp
import StacSearch

/// Turns chunk jobs into finished Zarr chunks:
/// search → read and warp → mask → reduce → encode → store, then the done record.
///
/// One worker per thread; it keeps its STAC client, scene reader (opened datasets, index maps)
/// and buffers between jobs so a run of many jobs pays for them once.
public final class ChunkWorker {
    public let cube: OpenCube
    public let options: WorkerOptions
    let searcher: StacSearcher
    let reader: SceneReader
    let fusion: SceneFusion
    /// Extra lanes for `readThreads` > 1, made on first use and kept between jobs.
    var fusions: [SceneFusion] = []
    /// Grid mappings shared by all lanes: each is computed once per job, not once per lane.
    let grids = GridCache()
    /// Lanes out of observations decode tiles for the lanes still reading.
    let help = DecodeHelp()
    /// Opens a job's assets ahead of the lanes (those not in the header index).
    let prefetcher = ScenePrefetcher()
    /// Tiles fetched ahead of the lanes: the job's mask tiles at its start, each scene's band
    /// tiles as soon as its mask is decoded.
    let tilePrefetch: TilePrefetch
    /// The cube's scene and header index; nil for a store without one (searched live).
    let index: IndexedScenes?
    /// The read lanes' threads.
    let laneThreads = LaneThreads()
    /// The mask wave's tile maths (and its CRS transforms, kept between jobs).
    let tileCover = TileCover()

    public init(cube: OpenCube, options: WorkerOptions = WorkerOptions(), httpClient: HTTPClient? = nil) throws {
        self.cube = cube
        self.options = options
        let sensors = try SensorReading.all(cube.spec)
        NetworkStats.enable()
        if let aws = try? AWSEnvironment.current() { S3Reads.configure(aws) }
        searcher = StacSearcher(source: try cube.stacSource, httpClient: httpClient)
        index = try IndexedScenes(store: cube.store, source: try cube.stacSource,
                                  needsOverviews: cube.spec.overviews != .none)
        tilePrefetch = TilePrefetch(connections: options.connections)
        reader = SceneReader(grids: grids, help: help, prefetcher: prefetcher)
        reader.prefetch = tilePrefetch
        fusion = SceneFusion(reader: reader, sensors: sensors, fusionRule: cube.spec.fuse, resampling: cube.spec.resampling)
        fusion.overviews = cube.spec.overviews
    }

    /// Builds one job and records it done. Throws when the job cannot be finished (search
    /// failed, network down, store not writable): nothing is marked done then, and any chunk
    /// already written is rewritten identically by the next attempt.
    @discardableResult
    public func run(_ job: JobID) throws -> DoneRecord {
        var clock = PhaseClock()
        let traffic = Traffic(staleAssets: staleAssets)
        let window = cube.plan.grid.chunkWindow(cy: job.cy, cx: job.cx)
        let target = cube.plan.grid.subBox(window)
        // Grid mappings are per chunk lattice, so none of the previous job's is used again:
        // dropping them keeps a long-running worker's memory to one job's worth.
        grids.removeAll()

        // With mask filters a job reads the scenes of its chunk grown by their halo (a tile of
        // the same pass that only meets the halo can still mask the chunk's pixels).
        let found = try search(job, window: cube.plan.grid.searchWindow(cy: job.cy, cx: job.cx, halo: filterHalo))
        // With mask filters the observations are read over the chunk grown by their halo.
        prefetch(found, target: filterHalo > 0 ? FilterWindow(strip: window, halo: filterHalo, grid: cube.plan.grid).target : target)
        defer { prefetcher.stop(); tilePrefetch.reset() }
        clock.lap("search")

        let planes = JobPlanes(outputs: cube.recipe.outputs, sensorCounts: cube.layout.sensorCounts,
                               pixels: window.pixelCount)
        let built = try build(found.observations, window: window, target: target, into: planes, clock: &clock)
        let validPixels = planes.validPixels
        let bytesWritten = validPixels > 0 ? try write(planes, job: job) : 0
        clock.lap("write")

        let record = DoneRecord(
            job: job.name(in: cube.plan),
            scenes_found: found.result.items.count,
            scenes_used: built.ledger.usedCount,
            scenes_skipped: found.skipped + built.ledger.skipped,
            observations: built.storedObservations,
            valid_pixels: validPixels,
            wrote_chunks: validPixels > 0,
            bytes_read: traffic.bytesRead,
            bytes_written: bytesWritten,
            seconds: clock.seconds,
            finished: ISO8601DateFormatter().string(from: Date()),
            index_snapshot: index?.snapshot.snapshot,
            requests: traffic.requests,
            stale_assets: staleAssets - traffic.staleAssetsBefore,
            scenes: found.provenance,
            overview_levels: overviewLevels(found))
        if validPixels == 0 { try removeChunks(of: job) }
        try cube.ledger.markDone(job, record)
        return record
    }

    /// The scenes of one job, grouped into observations, and what the search left out.
    struct Found {
        let result: SearchResult
        let observations: [Observation]
        let skipped: [SkippedScene]
        let indexed: [String: IndexedAsset]
        /// What the done record lists: the scenes of `observations` with their versions.
        let provenance: [SceneProvenance]
    }

    /// Search: in the cube's scene index when it has one, else in the catalog.
    func search(_ job: JobID, window: PixelWindow) throws -> Found {
        let bin = cube.plan.bins[job.bin]
        let footprint = try cube.plan.grid.lonLatFootprint(window)
        let query = SearchQuery(footprint: footprint, interval: DateInterval(start: bin.start, end: bin.end),
                                maxCloudCover: cube.spec.stac.maxCloudCover)
        let result: SearchResult
        var indexed: [String: IndexedAsset] = [:]
        if let index {
            (result, indexed) = try index.search(bin: bin.label, cy: job.cy, cx: job.cx, query: query)
        } else {
            result = try searcher.search(query)
        }
        let (observations, dropped) = searcher.observations(from: result.items, footprint: footprint)
        let skipped = (result.skipped + dropped).map { SkippedScene(id: $0.id, reason: $0.reason) }
        let provenance = JobScenes.provenance(observations, result: result, assetKeys: cube.spec.assetKeys)
        return Found(result: result, observations: observations, skipped: skipped, indexed: indexed,
                     provenance: provenance)
    }

    /// Opens the job's assets ahead of the lanes (in the order they will be read: mask first,
    /// then the bands; those in the header index need no opening) and sends the first wave:
    /// every mask tile the job may read, all requests in flight together, then (`bandWaveAtStart`)
    /// the band tiles of each observation's first scene.
    func prefetch(_ found: Found, target: GeoBox) {
        for f in [fusion] + fusions { f.begin(indexed: found.indexed, chunk: target) }
        let assetKeys = cube.spec.assetKeys
        let order = laneOrder(found.observations)
        prefetcher.start(order.flatMap { i in
            found.observations[i].scenes.flatMap { scene in
                assetKeys.compactMap { scene.assets[$0]?.href }.filter { found.indexed[$0] == nil }
            }
        })
        requestMaskWave(order.flatMap { found.observations[$0].scenes }, target: target, indexed: found.indexed)
        // The first scene of an observation needs every clear block under the chunk, and at these
        // block sizes nearly every block has a clear pixel: its bands go out now instead of one
        // round trip after its mask is decoded (and after a lane is free), for ~1.4 % more bytes.
        if options.bandWaveAtStart {
            requestBandWave(order.compactMap { found.observations[$0].scenes.first }, target: target,
                            indexed: found.indexed)
        }
    }

    /// Read, mask, fuse and reduce, strip by strip (a strip's reducer fits the memory budget).
    func build(_ observations: [Observation], window: PixelWindow, target: GeoBox, into planes: JobPlanes,
               clock: inout PhaseClock) throws -> (ledger: SceneLedger, storedObservations: Int) {
        var ledger = SceneLedger()
        var stored = 0
        guard !observations.isEmpty else { return (ledger, 0) }
        let bandCount = cube.spec.bands.count
        let rows = StripPlan.rowsPerStrip(width: window.width, height: window.height, bandCount: bandCount,
                                          observations: observations.count, budgetBytes: options.memoryBudgetBytes,
                                          threads: options.reduceThreads)
        for strip in StripPlan.strips(height: window.height, rowsPerStrip: rows) {
            let stripWindow = PixelWindow(col: 0, row: strip.lowerBound, width: window.width, height: strip.count)
            let reducer = try CompositeReducer(pixelCount: stripWindow.pixelCount, bandCount: bandCount,
                                               maxObservations: observations.count, recipe: cube.recipe,
                                               sensors: cube.spec.sensors.count)
            let halo = filterHalo
            let filtering = halo > 0 ? FilterWindow(strip: PixelWindow(col: window.col, row: window.row + strip.lowerBound,
                                                                       width: window.width, height: strip.count),
                                                    halo: halo, grid: cube.plan.grid) : nil
            let events = try compose(observations, target: target.subBox(stripWindow), into: reducer,
                                     skipping: ledger.brokenIDs, filtering: filtering)
            for event in events.joined() {
                switch event {
                case .outcome(let id, let outcome): ledger.note(id, outcome)
                case .broken(let id, let why): ledger.markBroken(id, why)
                }
            }
            stored = max(stored, reducer.observationCount)
            clock.lap("read")
            let range = (strip.lowerBound * window.width)..<(strip.upperBound * window.width)
            try reducer.finish(outputs: planes.outputs(pixels: range), count: planes.count(pixels: range),
                               threads: options.reduceThreads)
            for s in planes.sensorCountNames.indices {
                try reducer.sensorCount(s, into: planes.sensorCount(s, pixels: range))
            }
            clock.lap("reduce")
        }
        return (ledger, stored)
    }

    /// A job that now has no valid pixel stores no chunk: chunks an earlier build of it left
    /// (before its scenes changed) are removed, so the store equals a fresh build.
    func removeChunks(of job: JobID) throws {
        for name in cube.layout.dataArrays {
            try cube.store.delete(cube.layout.chunkKey(array: name, bin: job.bin, cy: job.cy, cx: job.cx))
        }
    }

    /// Encodes and stores every output and count chunk (independent objects: with several
    /// threads they are encoded and stored in parallel); returns the bytes stored. The done
    /// record is written after, so done means complete.
    func write(_ planes: JobPlanes, job: JobID) throws -> Int {
        let names = planes.names
        // Each thread reads only its own plane; the planes outlive the writes.
        nonisolated(unsafe) let all = planes.all(pixels: 0..<planes.pixels).map { UnsafeRawBufferPointer($0) }
        let outcome = Mutex((sizes: [Int](repeating: 0, count: names.count), failure: (any Error)?.none))
        let writer = cube.writer
        @Sendable func write(_ i: Int) {
            do {
                let n = try writer.write(array: names[i], bin: job.bin, cy: job.cy, cx: job.cx, bytes: all[i])
                outcome.withLock { $0.sizes[i] = n }
            } catch {
                outcome.withLock { $0.failure = $0.failure ?? error }
            }
        }
        if options.readThreads > 1 {
            DispatchQueue.concurrentPerform(iterations: names.count, execute: write)
        } else {
            for i in names.indices { write(i) }
        }
        return try outcome.withLock { o in
            if let failure = o.failure { throw failure }
            return o.sizes.reduce(0, +)
        }
    }
}
