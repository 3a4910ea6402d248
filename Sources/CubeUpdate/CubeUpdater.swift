import CubeCore
import CubeGrid
import CubeJobs
import CubePlan
import CubePyramid
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import JSON
import SceneIndex
import StacItems
import StacSearch

/// `cube update`: searches the catalog again for some time bins, compares each job's scenes
/// with those its done record says it was built from, and prepares exactly the jobs whose
/// scenes changed for a rebuild (their done records go, the pyramid chunks above them are
/// forgotten, the bin's index is rewritten). Jobs whose scenes did not change are neither
/// rebuilt nor rewritten. One bin is in memory at a time.
///
/// The order keeps an interrupted update safe: the journal (`_cube/update.json`) first, then
/// per bin the block files, the done records and pyramid markers of the changed jobs and the
/// chunks of jobs that lost every scene, and last the index snapshot. While the journal exists
/// `cube run` refuses; `cube update` run again compares again and finishes the work.
public final class CubeUpdater {
    public let store: any Store
    public let spec: CubeSpec
    public let plan: Plan
    public let layout: CubeLayout
    public let source: StacSource
    public var connections = 32
    /// Read the COG header of every asset again, not only of new or changed items: finds an
    /// object replaced behind an unchanged catalog entry (its ETag or size changed).
    public var recheckObjects = false
    /// Jobs built before cube recorded their scenes: rebuild them (true) or refuse (false).
    public var rebuildUnrecorded = false
    public var log: ((String) -> Void)?
    /// Benchmarks only: record every job with scenes as built from the catalog as it is now (a
    /// done record with its scenes, no chunk), so an update can be measured without COGs.
    public var seedRecords = false

    public init(store: any Store, spec: CubeSpec, plan: Plan, layout: CubeLayout, source: StacSource) {
        self.store = store
        self.spec = spec
        self.plan = plan
        self.layout = layout
        self.source = source
    }

    /// Compares (and with `dryRun` false, prepares the rebuild of) the jobs of `bins`.
    public func run(bins: [TimeBin], dryRun: Bool) throws -> UpdateReport {
        let started = Date()
        guard let oldSnapshot = try SceneIndexBuilder.snapshot(in: store) else {
            throw UpdateError("\(store) has no scene index to compare with; run `cube index \(store)` (or `cube run`) first")
        }
        let ledger = JobLedger(store: store, plan: plan)
        let recorded = try ledger.recordedJobs()
        let oldEmpty = try ledger.indexEmptyJobs()
        var builder = SceneIndexBuilder(spec: spec, plan: plan, store: store, source: source)
        builder.connections = connections
        builder.readsHeaders = !dryRun
        builder.log = log
        let context = try SceneIndexBuilder.Context(builder: builder)
        let policy = SceneIndexBuilder.hrefPolicy(source)
        let pyramid = PyramidBuilder(layout: layout, store: store)
        let grid = plan.grid
        let extent = try footprint(PixelWindow(col: 0, row: 0, width: grid.width, height: grid.height))
        let outlines = try Dictionary(uniqueKeysWithValues: plan.landChunks.map { c in
            (ChunkKey(cy: c.cy, cx: c.cx), try chunkFootprint(c.cy, c.cx))
        })

        var report = UpdateReport(dry_run: dryRun, bins: [], jobs_checked: 0, jobs_rebuild: 0, jobs_emptied: 0,
                                  jobs_unrecorded: 0, seconds: 0)
        var headers = oldSnapshot.headers
        var newBins: [String: IndexSnapshot.Bin] = [:]
        var journalWritten = false
        for bin in bins {
            // Only an index that read headers has fields worth keeping (reading its block files
            // back is most of a dry run's own work otherwise).
            let oldFeatures = oldSnapshot.headers.indexed + oldSnapshot.headers.failed > 0 && !recheckObjects
                ? try indexFeatures(bin: bin.label) : []
            let content = try context.gather(bin, headers: &headers,
                                             reuse: recheckObjects ? nil : Self.reuse(oldFeatures, keys: spec.assetKeys),
                                             readHeaders: !dryRun)
            var binReport = UpdateReport.Bin(label: bin.label, items: content.items.count, rebuild: [], emptied: [])
            var forget: [JobID] = []
            var emptied: [JobID] = []
            var unrecorded = 0
            // Per index block: its items parsed once as the worker parses them, then per chunk
            // the footprint filter, dedup and solar days the worker applies.
            var blockItems: [ChunkKey: (result: SearchResult, boxes: [LonLatBBox?])] = [:]
            for c in plan.landChunks {
                let job = JobID(bin: bin.index, cy: c.cy, cx: c.cx)
                report.jobs_checked += 1
                let wasRecorded = recorded.contains(job)
                guard wasRecorded || oldEmpty.contains(job) || seedRecords else { continue }  // pending: `cube run` builds it
                let b = IndexFormat.block(cy: c.cy, cx: c.cx)
                let blockKey = ChunkKey(cy: b.by, cx: b.bx)
                if blockItems[blockKey] == nil {
                    let result = StacSearcher.select(
                        features: content.features(block: b), hrefPolicy: policy, collections: source.collections,
                        query: SearchQuery(footprint: extent, interval: DateInterval(start: bin.start, end: bin.end),
                                           maxCloudCover: spec.stac.maxCloudCover))
                    blockItems[blockKey] = (result, result.items.map(\.footprint.bbox))
                }
                let block = blockItems[blockKey]!
                let now = scenes(block.result, boxes: block.boxes, outline: outlines[ChunkKey(cy: c.cy, cx: c.cx)]!)
                if seedRecords {
                    if !now.isEmpty {
                        try ledger.markDone(job, DoneRecord(
                            job: job.name(in: plan), scenes_found: now.count, scenes_used: now.count, scenes_skipped: [],
                            observations: 0, valid_pixels: 0, wrote_chunks: false, bytes_read: 0, bytes_written: 0,
                            seconds: [:], finished: ISO8601DateFormatter().string(from: Date()),
                            index_snapshot: oldSnapshot.snapshot, scenes: now))
                    }
                    continue
                }
                var built: [SceneProvenance] = []
                if wasRecorded {
                    guard let data = try store.get(ledger.doneKey(job)) else { continue }
                    guard let scenes = try Self.recordedScenes(data, key: ledger.doneKey(job)) else {
                        unrecorded += 1
                        if rebuildUnrecorded {
                            var change = SceneChange()
                            change.added = now.map(\.id)
                            binReport.rebuild.append(.init(job: job.name(in: plan), reason: "built before cube recorded its scenes", change: change))
                            forget.append(job)
                        }
                        continue
                    }
                    built = scenes
                }
                let change = SceneChange.between(built: built, now: now)
                if change.isEmpty { continue }
                if now.isEmpty {
                    binReport.emptied.append(.init(job: job.name(in: plan), reason: "every scene withdrawn", change: change))
                    emptied.append(job)
                } else {
                    binReport.rebuild.append(.init(job: job.name(in: plan),
                                                   reason: wasRecorded ? "scenes changed" : "empty before, has scenes now",
                                                   change: change))
                    if wasRecorded { forget.append(job) }
                }
            }
            report.jobs_unrecorded += unrecorded
            if unrecorded > 0 && !rebuildUnrecorded {
                if journalWritten { try? store.delete(UpdateJournal.key) }  // nothing of this bin was changed yet
                throw UpdateError("\(unrecorded) built jobs of \(bin.label) have no record of their scenes (built by a cube from before updates); `cube update --rebuild-unrecorded` rebuilds them, or `cube index --refresh` then `cube run` keeps them as they are")
            }
            report.jobs_rebuild += binReport.rebuild.count
            report.jobs_emptied += binReport.emptied.count
            report.bins.append(binReport)
            log?("\(bin.label): \(content.items.count) items, \(binReport.rebuild.count) jobs to rebuild, \(binReport.emptied.count) emptied")
            guard !dryRun else { continue }

            if !journalWritten {
                try store.put(UpdateJournal.key, JSONEncoder().encode(
                    UpdateJournal(started: ISO8601DateFormatter().string(from: started), bins: bins.map(\.label))))
                journalWritten = true
            }
            for job in forget + emptied {
                try ledger.forget(job)
                try pyramid.invalidate(bin: job.bin, cy: job.cy, cx: job.cx)
            }
            for job in emptied {
                for name in layout.dataArrays {
                    try store.delete(layout.chunkKey(array: name, bin: job.bin, cy: job.cy, cx: job.cx))
                }
            }
            // The bin's old block files go first: a block that no item meets any more must not stay.
            for key in try store.list(prefix: "\(IndexFormat.prefix)/\(bin.label)") { try store.delete(key) }
            let done = recorded.subtracting(forget).subtracting(emptied)
            newBins[bin.label] = try context.write(content, done: done)
        }
        if !dryRun {
            let bins = oldSnapshot.bins.map { newBins[$0.label] ?? $0 } + newBins.values.filter { b in !oldSnapshot.bins.contains { $0.label == b.label } }
            _ = try builder.writeSnapshot(bins: bins, headers: headers,
                                                seconds: oldSnapshot.seconds + Date().timeIntervalSince(started))
            if report.jobs_rebuild == 0 && report.jobs_emptied == 0 { try store.delete(UpdateJournal.key) }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// The `scenes` of a done record, read with the byte-level JSON reader (a continental
    /// update reads hundreds of thousands of records; Foundation's decoder took most of its
    /// time); nil for a record from before provenance.
    static func recordedScenes(_ data: Data, key: String) throws -> [SceneProvenance]? {
        let record: JSONValue
        do { record = try JSONValue.parse(data) } catch { throw UpdateError("\(key) is not JSON: \(error)") }
        guard let list = record["scenes"]?.arrayValue else { return nil }
        return try list.map { s in
            guard let id = s["id"]?.stringValue, let datetime = s["datetime"]?.stringValue else {
                throw UpdateError("\(key): a scene without id or datetime")
            }
            var assets: [String: String?] = [:]
            for (k, v) in s["assets"]?.objectValue ?? [:] { assets[k] = v.stringValue }
            return SceneProvenance(id: id, datetime: datetime, updated: s["updated"]?.stringValue,
                                   tile: s["tile"]?.stringValue, assets: assets)
        }
    }

    /// The scenes a worker would use for a chunk, from its block's parsed items.
    /// `boxes`: each item's footprint bbox, computed once per block (the footprint test
    /// computes it on every call, and a continental update makes tens of millions of them).
    func scenes(_ block: SearchResult, boxes: [LonLatBBox?], outline: LonLatFootprint) -> [SceneProvenance] {
        var items: [StacItem] = [], features: [JSONValue] = []
        guard let box = outline.bbox else { return [] }
        for i in block.items.indices {
            guard let b = boxes[i], b.intersects(box), block.items[i].footprint.intersects(outline) else { continue }
            items.append(block.items[i])
            features.append(block.features[i])
        }
        let result = SearchResult(items: items, features: features, skipped: [], pages: 0, requests: 0)
        let observations = SolarDayGrouping.observations(from: items, footprint: outline).observations
        return JobScenes.provenance(observations, result: result, assetKeys: spec.assetKeys)
    }

    func chunkFootprint(_ cy: Int, _ cx: Int) throws -> LonLatFootprint {
        try footprint(plan.grid.searchWindow(cy: cy, cx: cx, halo: spec.maskFilterHalo))
    }

    func footprint(_ window: PixelWindow) throws -> LonLatFootprint {
        try plan.grid.lonLatFootprint(window)
    }

    /// The features of bin `label` in the stored index (every block file).
    func indexFeatures(bin label: String) throws -> [JSONValue] {
        var out: [JSONValue] = []
        var seen = Set<String>()
        for key in try store.list(prefix: "\(IndexFormat.prefix)/\(label)") where key.hasSuffix(".json") {
            guard let data = try store.get(key), let collection = try? JSONValue.parse(data) else { continue }
            for feature in collection["features"]?.arrayValue ?? [] {
                guard let id = feature["id"]?.stringValue, seen.insert(id).inserted else { continue }
                out.append(feature)
            }
        }
        return out
    }

    /// An asset's stored index fields are kept when the catalog still gives the same object:
    /// same href in an item whose `updated` and the asset's `file:checksum` are unchanged.
    static func reuse(_ old: [JSONValue], keys: [String]) -> SceneIndexBuilder.Context.Reuse {
        struct Kept { let updated: String?; let checksum: String?; let fields: [String: JSONValue] }
        var byHref: [String: Kept] = [:]
        for feature in old {
            let updated = feature["properties"]?["updated"]?.stringValue
            for (_, asset) in feature["assets"]?.objectValue ?? [:] {
                guard let href = asset["href"]?.stringValue, let header = asset[IndexFormat.headerField] else { continue }
                // A header stored without overview levels (cube-scene-index/1) is read again.
                if header.objectValue != nil, header["overviews"] == nil { continue }
                var fields: [String: JSONValue] = [:]
                for name in IndexFormat.headerFields { fields[name] = asset[name] }
                byHref[href] = Kept(updated: updated, checksum: asset["file:checksum"]?.stringValue, fields: fields)
            }
        }
        return { href, feature, key in
            guard let kept = byHref[href] ?? byHref[feature["assets"]?[key]?["href"]?.stringValue ?? ""] else { return nil }
            guard kept.updated == feature["properties"]?["updated"]?.stringValue,
                  kept.checksum == feature["assets"]?[key]?["file:checksum"]?.stringValue else { return nil }
            return kept.fields
        }
    }

    struct ChunkKey: Hashable {
        let cy: Int
        let cx: Int
    }
}

/// What `cube update` found (and, without --dry-run, prepared): per bin, the jobs to rebuild
/// with their reasons.
public struct UpdateReport: Codable, Sendable {
    public struct Job: Codable, Sendable {
        public var job: String
        public var reason: String
        public var change: SceneChange
    }

    public struct Bin: Codable, Sendable {
        public var label: String
        public var items: Int
        public var rebuild: [Job]
        public var emptied: [Job]
    }

    public var dry_run: Bool
    public var bins: [Bin]
    public var jobs_checked: Int
    public var jobs_rebuild: Int
    public var jobs_emptied: Int
    public var jobs_unrecorded: Int
    public var seconds: Double

    /// Scenes added, withdrawn, replaced and changed over every job (a scene counts once per job).
    public var counts: (added: Int, withdrawn: Int, replaced: Int, changed: Int) {
        var a = 0, w = 0, r = 0, c = 0
        for bin in bins {
            for job in bin.rebuild + bin.emptied {
                r += job.change.replaced.count
                a += job.change.added.count - job.change.replaced.count
                w += job.change.withdrawn.count - job.change.replaced.count
                c += job.change.changed.count
            }
        }
        return (a, w, r, c)
    }

    /// The per-bin note for the bin's STAC item.
    public func note(bin label: String) -> JSONValue? {
        guard let bin = bins.first(where: { $0.label == label }), !(bin.rebuild.isEmpty && bin.emptied.isEmpty) else { return nil }
        return ["jobs_rebuilt": .int(Int64(bin.rebuild.count)), "jobs_emptied": .int(Int64(bin.emptied.count)),
                "scenes_added": .strings(Array(Set(bin.rebuild.flatMap(\.change.added))).sorted()),
                "scenes_withdrawn": .strings(Array(Set((bin.rebuild + bin.emptied).flatMap(\.change.withdrawn))).sorted())]
    }
}

public struct UpdateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
