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

/// Knobs of a worker; the defaults suit one worker process per core.
public struct WorkerOptions: Sendable {
    /// Memory for the observation store of one job; a chunk that needs more is reduced in row
    /// strips (each strip re-reads only its own source rows).
    public var memoryBudgetBytes: Int
    /// Threads for the median of one job (1 when many worker processes share the cores).
    public var reduceThreads: Int
    /// Threads reading and fusing observations of one job in parallel, each with its own
    /// scene reader (1 when many worker processes share the cores).
    public var readThreads: Int

    /// Tile requests in flight at once (COG range requests of the mask and band waves).
    public var connections: Int
    /// Read lanes: observations read at once, by default two per thread. More lanes than
    /// threads hide round trips to a far server (a lane waiting for its band wave leaves the core
    /// to another): at 100 ms, 4 lanes on 2 threads took a 1200² chunk from 4.9 s to 3.8 s
    /// (2.9 s at 0 ms, unchanged); each lane costs one observation's planes of memory (about
    /// 60 MiB there).
    public var readLanes: Int

    public init(memoryBudgetBytes: Int = 512 << 20, reduceThreads: Int = 1, readThreads: Int = 1,
                connections: Int = 32, readLanes: Int? = nil) {
        self.memoryBudgetBytes = memoryBudgetBytes
        self.reduceThreads = max(1, reduceThreads)
        self.readThreads = max(1, readThreads)
        self.connections = max(1, connections)
        self.readLanes = max(1, readLanes ?? 2 * self.readThreads)
    }
}

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
    /// Target CRS → scene CRS transforms for the mask wave, by EPSG code.
    private var waveTransforms: [Int: CoordinateTransform?] = [:]

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
    /// every mask tile the job may read, all requests in flight together.
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

/// Bytes and requests a job caused, from the process-wide counters (GDAL's and the range
/// fetcher's) taken before it started.
struct Traffic {
    let bytesBefore: Int
    let fetchedBefore: Int
    let requestsBefore: Int
    let staleAssetsBefore: Int

    init(staleAssets: Int) {
        let network = NetworkStats.snapshot()
        bytesBefore = network.bytesDownloaded
        fetchedBefore = RangeFetcher.totalBytes
        requestsBefore = network.requests + RangeFetcher.totalRequests
        staleAssetsBefore = staleAssets
    }

    var bytesRead: Int {
        max(0, NetworkStats.snapshot().bytesDownloaded - bytesBefore) + (RangeFetcher.totalBytes - fetchedBefore)
    }

    var requests: Int { NetworkStats.snapshot().requests + RangeFetcher.totalRequests - requestsBefore }
}

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

/// What happened to one scene while composing an observation.
enum SceneEvent {
    case outcome(String, SceneOutcome)
    case broken(String, String)
}

extension ChunkWorker {
    /// Reads and fuses every observation into `reducer`; returns the scene events per
    /// observation, in observation order (so logs do not depend on thread timing).
    /// One thread: each observation is built in place in the reducer's next slot. Several:
    /// observations are handed out to lanes, each with its own scene reader and builder, and
    /// copied into the reducer as they finish, each with its time (statistics use time order).
    /// With `filtering` (mask filters) every lane, even a single one, builds its observations
    /// on the grown window and copies the strip's pixels in, without those the filters drop.
    func compose(_ observations: [Observation], target: GeoBox, into reducer: CompositeReducer,
                 skipping broken: Set<String>, filtering: FilterWindow? = nil) throws -> [[SceneEvent]] {
        let lanes = max(1, min(options.readLanes, observations.count))
        if lanes <= 1 && filtering == nil {
            return try observations.enumerated().map { rank, observation in
                let sensor = fusion.sensor(for: observation.collection)
                let builder = try reducer.beginObservation(maskRule: sensor?.maskRule ?? .sentinel2Default,
                                                           fusionRule: fusion.fusionRule, sensor: sensor?.index ?? 0,
                                                           time: Self.time(of: observation, rank: rank))
                let events = try fuse(observation, target: target, builder: builder, fusion: fusion, skipping: broken)
                try reducer.commitObservation()
                return events
            }
        }
        while fusions.count < lanes {
            let laneReader = SceneReader(grids: grids, help: help, prefetcher: prefetcher)
            laneReader.prefetch = tilePrefetch
            let laneFusion = SceneFusion(reader: laneReader, sensors: fusion.sensors, fusionRule: fusion.fusionRule,
                                         resampling: cube.spec.resampling)
            laneFusion.overviews = fusion.overviews
            if let chunk = fusion.chunk { laneFusion.begin(indexed: fusion.indexed, chunk: chunk) }
            fusions.append(laneFusion)
        }
        let lock = NSLock()
        var nextIndex = 0
        var firstError: Error?
        var events = [[SceneEvent]](repeating: [], count: observations.count)
        let order = laneOrder(observations)
        let lanesFusions = [fusion] + fusions.prefix(lanes - 1)
        func readLane(_ lane: Int) {
            let fusion = lanesFusions[lane]
            let builder: ObservationBuilder
            let readTarget = filtering?.target ?? target
            let laneFilter = filtering.map { _ in LaneFilter() }
            do {
                builder = try ObservationBuilder(pixelCount: readTarget.width * readTarget.height,
                                                 bandCount: reducer.bandCount, fusionRule: fusion.fusionRule,
                                                 tracksMaskedPixels: filtering != nil)
            } catch {
                lock.lock(); firstError = firstError ?? error; lock.unlock()
                return
            }
            while true {
                lock.lock()
                let next = nextIndex
                nextIndex += 1
                let stop = firstError != nil
                lock.unlock()
                if stop || next >= observations.count { return }
                let i = order[next]
                let sensor = fusion.sensor(for: observations[i].collection)
                builder.maskRule = sensor?.maskRule ?? .sentinel2Default
                builder.reset()
                do {
                    let list = try self.fuse(observations[i], target: readTarget, builder: builder, fusion: fusion,
                                             skipping: broken)
                    let time = Self.time(of: observations[i], rank: i)
                    if let filtering, let laneFilter {
                        let dropped = laneFilter.dropped(builder, filters: sensor?.filters ?? .none,
                                                         width: filtering.inner.sourceWidth)
                        lock.lock()
                        defer { lock.unlock() }
                        events[i] = list
                        if let dropped {
                            try dropped.withUnsafeBufferPointer {
                                _ = try reducer.add(builder, window: filtering.inner, dropping: $0,
                                                    sensor: sensor?.index ?? 0, time: time)
                            }
                        } else {
                            try reducer.add(builder, window: filtering.inner, dropping: nil, sensor: sensor?.index ?? 0,
                                            time: time)
                        }
                        continue
                    }
                    lock.lock()
                    defer { lock.unlock() }
                    events[i] = list
                    try reducer.add(builder, sensor: sensor?.index ?? 0, time: time)
                } catch {
                    lock.lock(); firstError = firstError ?? error; lock.unlock()
                    return
                }
            }
        }
        help.begin()
        laneThreads.run(count: lanes) { lane in
            self.help.laneStarted()
            readLane(lane)
            // Out of observations: help the lanes still reading until all are done.
            self.help.laneDone()
            self.help.serve()
        }
        if let firstError { throw firstError }
        return events
    }

    /// An observation's solar day and its rank in the job's time order (the observation list
    /// is sorted by day, then collection).
    static func time(of observation: Observation, rank: Int) -> ObservationTime {
        ObservationTime(day: Int32(clamping: observation.solarDayIndex), rank: rank)
    }

    /// Objects found changed since indexing, over all lanes.
    var staleAssets: Int { ([fusion] + fusions).reduce(0) { $0 + $1.reader.stats.staleAssets } }

    /// Queues the mask tiles of `scenes` that cover `target` (from their indexed headers: the
    /// target's bounds in the scene's CRS, a pixel of margin), so they are all in flight
    /// before the first lane asks for one. Scenes without an indexed http(s) mask are read
    /// on demand.
    func requestMaskWave(_ scenes: [StacItem], target: GeoBox, indexed: [String: IndexedAsset]) {
        for scene in scenes {
            guard let maskAsset = fusion.sensor(for: scene.collection)?.maskAsset,
                  let href = scene.assets[maskAsset]?.href, let base = indexed[href] else { continue }
            // The level the lane will read the mask at.
            let asset = base.atLevel(fusion.level(href))
            guard let remote = asset.remote, let layout = asset.tileLayout, let code = asset.header.epsg else { continue }
            if waveTransforms[code] == nil {
                waveTransforms[code] = .some((try? SpatialReference.epsg(code)).flatMap { ref in
                    target.crs.reference.isSame(ref) ? nil : try? CoordinateTransform(from: target.crs.reference, to: ref)
                })
            }
            var bounds = (minX: target.left, minY: target.bottom, maxX: target.right, maxY: target.top)
            if case .some(.some(let t)) = waveTransforms[code] {
                guard let b = t.transformBounds(minX: target.left, minY: target.bottom, maxX: target.right,
                                                maxY: target.top) else { continue }
                bounds = b
            }
            let gt = asset.header.geoTransform
            guard gt.count == 6, gt[1] > 0, gt[5] < 0 else { continue }
            let c0 = Int(((bounds.minX - gt[0]) / gt[1]).rounded(.down)) - 1
            let c1 = Int(((bounds.maxX - gt[0]) / gt[1]).rounded(.up)) + 1
            let r0 = Int(((bounds.maxY - gt[3]) / gt[5]).rounded(.down)) - 1
            let r1 = Int(((bounds.minY - gt[3]) / gt[5]).rounded(.up)) + 1
            let bc0 = max(0, c0 / layout.blockWidth), bc1 = min(layout.blocksAcross - 1, max(0, c1) / layout.blockWidth)
            let br0 = max(0, r0 / layout.blockHeight), br1 = min(layout.blocksDown - 1, max(0, r1) / layout.blockHeight)
            guard c1 >= 0, r1 >= 0, bc0 <= bc1, br0 <= br1 else { continue }
            var ranges: [(offset: UInt64, size: Int)] = []
            let offsets = asset.header.blockOffsets, counts = asset.header.blockByteCounts
            for row in br0...br1 {
                for col in bc0...bc1 {
                    let i = row * layout.blocksAcross + col
                    guard i < offsets.count, i < counts.count, offsets[i] > 0, counts[i] > 0,
                          counts[i] <= UInt64(Int32.max) else { continue }
                    ranges.append((offsets[i], Int(counts[i])))
                }
            }
            tilePrefetch.request(remote, ranges)
        }
    }

    /// The level each asset of the job was read at, by scene and asset key (nil for
    /// `overviews: none`).
    func overviewLevels(_ found: Found) -> [String: [String: Int]]? {
        guard cube.spec.overviews != .none else { return nil }
        var chosen: [String: Int] = [:]
        for f in [fusion] + fusions { chosen.merge(f.levels) { a, _ in a } }
        var out: [String: [String: Int]] = [:]
        for scene in found.observations.flatMap(\.scenes) {
            for (key, asset) in scene.assets {
                if let level = chosen[asset.href] { out[scene.id, default: [:]][key] = level }
            }
        }
        return out
    }

    /// The order observations are handed to lanes: with several lanes largest first, so no
    /// lane is left alone with a big observation at the end. The work of a day is about its
    /// clear share (clouds are mask-skipped); the median does not depend on the order and
    /// events stay in observation order.
    func laneOrder(_ observations: [Observation]) -> [Int] {
        guard min(options.readLanes, observations.count) > 1 else { return Array(observations.indices) }
        return observations.indices.sorted { a, b in
            let wa = Self.expectedWork(observations[a]), wb = Self.expectedWork(observations[b])
            return wa != wb ? wa > wb : a < b
        }
    }

    /// Relative read work of an observation: the clear share of its least cloudy scene
    /// (`eo:cloud_cover`; unknown counts as half clear).
    static func expectedWork(_ observation: Observation) -> Double {
        observation.scenes.map { 100 - min(100, max(0, $0.cloudCover ?? 50)) }.max() ?? 0
    }

    private func fuse(_ observation: Observation, target: GeoBox, builder: ObservationBuilder, fusion: SceneFusion,
                      skipping broken: Set<String>) throws -> [SceneEvent] {
        var events: [SceneEvent] = []
        for scene in observation.scenes where !broken.contains(scene.id) {
            if builder.isComplete {
                events.append(.outcome(scene.id, .notNeeded("same-day observation already complete")))
                continue
            }
            do {
                events.append(.outcome(scene.id, try fusion.fuse(scene, target: target, into: builder)))
            } catch let b as BrokenScene {
                events.append(.broken(scene.id, b.description))
            }
        }
        return events
    }
}

/// Per-scene bookkeeping across observations and strips: a scene counts as used when it
/// filled a pixel anywhere; a scene that could not be read is skipped everywhere after.
struct SceneLedger {
    private var used = Set<String>()
    private var notNeeded: [String: String] = [:]
    private var order: [String] = []
    private var broken: [String: String] = [:]

    var usedCount: Int { used.count }

    func isBroken(_ id: String) -> Bool { broken[id] != nil }

    var brokenIDs: Set<String> { Set(broken.keys) }

    mutating func note(_ id: String, _ outcome: SceneOutcome) {
        if !order.contains(id) { order.append(id) }
        switch outcome {
        case .used: used.insert(id)
        case .notNeeded(let why): if notNeeded[id] == nil { notNeeded[id] = why }
        }
    }

    mutating func markBroken(_ id: String, _ why: String) {
        if !order.contains(id) { order.append(id) }
        broken[id] = why
        used.remove(id)
    }

    /// Scenes that contributed nothing, in the order they were met, with why.
    var skipped: [SkippedScene] {
        order.compactMap { id in
            if let why = broken[id] { return SkippedScene(id: id, reason: "unreadable: \(why)") }
            if used.contains(id) { return nil }
            return notNeeded[id].map { SkippedScene(id: id, reason: $0) }
        }
    }
}

/// Wall time per phase, accumulated over strips.
struct PhaseClock {
    private(set) var seconds: [String: Double] = [:]
    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func lap(_ phase: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[phase, default: 0] += Double(now - last) / 1e9
        last = now
    }
}
