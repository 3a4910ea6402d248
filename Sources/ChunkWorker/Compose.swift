import Composite
import CubeGrid
import CubeJobs
import CubePlan
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import Synchronization
import GDALKit
import HTTPClient
import SceneIndex
import SceneWarp
import StacItems
import StacSearch

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

    /// Queues the mask tiles of `scenes` that cover `target` (from their indexed headers,
    /// `TileCover`), so they are all in flight before the first lane asks for one. Scenes
    /// without an indexed http(s) mask are read on demand.
    func requestMaskWave(_ scenes: [StacItem], target: GeoBox, indexed: [String: IndexedAsset]) {
        for scene in scenes {
            guard let maskAsset = fusion.sensor(for: scene.collection)?.maskAsset,
                  let href = scene.assets[maskAsset]?.href, let base = indexed[href] else { continue }
            // The level the lane will read the mask at.
            let asset = base.atLevel(fusion.level(href))
            guard let remote = asset.remote else { continue }
            let ranges = tileCover.ranges(of: asset, covering: target)
            if !ranges.isEmpty { tilePrefetch.request(remote, ranges) }
        }
    }

    /// Queues the band tiles of `scenes` that cover `target` at the level each will be read at,
    /// right behind the mask wave (`TileCover`). Only for nearest resampling, whose reads take
    /// exactly these tiles; a tile no lane asks for is dropped at the job's end.
    func requestBandWave(_ scenes: [StacItem], target: GeoBox, indexed: [String: IndexedAsset]) {
        guard fusion.resampling == .nearest else { return }
        for scene in scenes {
            guard let sensor = fusion.sensor(for: scene.collection) else { continue }
            for key in sensor.bandAssets {
                guard let href = scene.assets[key]?.href, let base = indexed[href] else { continue }
                let asset = base.atLevel(fusion.level(href))
                guard let remote = asset.remote else { continue }
                let ranges = tileCover.ranges(of: asset, covering: target)
                if !ranges.isEmpty { tilePrefetch.request(remote, ranges) }
            }
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
