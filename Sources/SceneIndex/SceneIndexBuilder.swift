import CubeCore
import CubeGrid
import CubeJobs
import CubePlan
import CubeSpec
import CubeStore
import Foundation
import HTTPClient
import JSON
import StacItems
import StacSearch
import TiffIndex

/// Builds a cube's scene index once, in the coordinator: per time bin, one search of the
/// catalog over the cube's whole extent (split when the catalog caps a result), the items
/// filtered and their needed assets' COG headers read, then written per index block. Jobs
/// whose chunk meets no item are recorded done (empty) before any worker starts. One bin is in
/// memory at a time.
public struct SceneIndexBuilder {
    public let spec: CubeSpec
    public let plan: Plan
    public let store: any Store
    public let source: StacSource
    public var connections = 32
    /// False: only the scene index (workers then open every asset through GDAL).
    public var readsHeaders = true
    /// Items per page asked of the catalog (servers may cap it lower).
    public var pageSize = 500
    /// Progress lines (bins done, header waves); nil for none.
    public var log: ((String) -> Void)?

    public init(spec: CubeSpec, plan: Plan, store: any Store, source: StacSource) {
        self.spec = spec
        self.plan = plan
        self.store = store
        self.source = source
    }

    /// The snapshot of a complete index in `store`, if there is one.
    public static func snapshot(in store: any Store) throws -> IndexSnapshot? {
        guard let data = try store.get(IndexFormat.snapshotKey) else { return nil }
        return try JSONDecoder().decode(IndexSnapshot.self, from: data)
    }

    /// Builds the index (replacing an old one; jobs an old index recorded empty and not built
    /// since are forgotten, so a refresh reconsiders them).
    @discardableResult
    public func build() throws -> IndexSnapshot {
        let started = Date()
        // A refresh: the old snapshot goes first, so a crash midway leaves no complete-looking index.
        try store.delete(IndexFormat.snapshotKey)
        for key in try store.list(prefix: IndexFormat.prefix) { try store.delete(key) }
        let context = try Context(builder: self)
        var headers = IndexSnapshot.Headers.zero
        var bins: [IndexSnapshot.Bin] = []
        for bin in plan.bins {
            let content = try context.gather(bin, headers: &headers)
            bins.append(try context.write(content, done: context.doneBefore))
        }
        return try writeSnapshot(bins: bins, headers: headers, seconds: Date().timeIntervalSince(started))
    }

    /// Indexes the bins of the plan that the stored index lacks (a cube that grew by an
    /// append): one search per new bin, the headers of their assets; the indexed bins stay as
    /// they are. Returns nil when nothing was missing.
    @discardableResult
    public func extend() throws -> IndexSnapshot? {
        guard let old = try Self.snapshot(in: store) else { return try build() }
        // An index of an older format is rebuilt whole: its bins' headers lack what this
        // format records (overview levels), and one index holds one format.
        guard old.format == IndexFormat.formatName else { return try build() }
        let have = Set(old.bins.map(\.label))
        let missing = plan.bins.filter { !have.contains($0.label) }
        guard !missing.isEmpty else { return nil }
        let started = Date()
        let context = try Context(builder: self)
        var headers = old.headers
        var bins = old.bins
        for bin in missing {
            let content = try context.gather(bin, headers: &headers)
            bins.append(try context.write(content, done: context.doneBefore))
            log?("indexed \(bin.label) (new bin)")
        }
        return try writeSnapshot(bins: bins, headers: headers, seconds: old.seconds + Date().timeIntervalSince(started))
    }

    /// The snapshot of `bins` in plan order, its id from theirs: written last, so its
    /// presence means the index is complete.
    public func writeSnapshot(bins unordered: [IndexSnapshot.Bin], headers: IndexSnapshot.Headers,
                       seconds: Double) throws -> IndexSnapshot {
        let order = Dictionary(uniqueKeysWithValues: plan.bins.map { ($0.label, $0.index) })
        let bins = unordered.sorted { (order[$0.label] ?? .max) < (order[$1.label] ?? .max) }
        var fingerprint = Fingerprint()
        for bin in bins { fingerprint.add("\(bin.label) \(bin.fingerprint ?? "")") }
        let snapshot = IndexSnapshot(
            format: IndexFormat.formatName, snapshot: fingerprint.hex,
            created: ISO8601DateFormatter().string(from: Date()), source: Self.describe(source),
            collection: Self.collection(source), block_chunks: IndexFormat.blockChunks, bins: bins,
            headers: headers, seconds: seconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try store.put(IndexFormat.snapshotKey, encoder.encode(snapshot))
        return snapshot
    }

    /// One bin's index before it is written: its items (features pruned to the cube's assets,
    /// with their headers) and which items meet each index block.
    public struct BinContent {
        public let bin: TimeBin
        public let items: [StacItem]
        public let features: [JSONValue]
        let members: [BlockKey: [Int]]
        let searches: Int
        let requests: Int
        let fingerprint: String
        let headerNote: String

        /// The features of block (by, bx), as the block file holds them.
        public func features(block: (by: Int, bx: Int)) -> [JSONValue] {
            (members[BlockKey(by: block.by, bx: block.bx)] ?? []).map { features[$0] }
        }
    }

    /// What every bin of one build shares: the chunks' and blocks' outlines, the searcher, the
    /// header reader.
    public final class Context {
        let builder: SceneIndexBuilder
        let chunkFootprints: [((cy: Int, cx: Int), LonLatFootprint)]
        let blocks: [BlockKey: LonLatFootprint]
        let extent: LonLatFootprint
        let searcher: StacSearcher
        let headers: HeaderIndexer
        /// Jobs with a done record when the build started.
        public let doneBefore: Set<JobID>

        public init(builder: SceneIndexBuilder) throws {
            self.builder = builder
            let plan = builder.plan, grid = plan.grid
            doneBefore = Set(try JobLedger(store: builder.store, plan: plan).recordedJobs())
            // A job reads the scenes of its chunk grown by the mask filters' halo (0 without).
            let halo = builder.spec.maskFilterHalo
            chunkFootprints = try plan.landChunks.map { c in
                (c, try SceneIndexBuilder.footprint(grid, grid.searchWindow(cy: c.cy, cx: c.cx, halo: halo)))
            }
            var blocks: [BlockKey: LonLatFootprint] = [:]
            for (c, _) in chunkFootprints {
                let b = IndexFormat.block(cy: c.cy, cx: c.cx)
                let key = BlockKey(by: b.by, bx: b.bx)
                if blocks[key] == nil {
                    let n = IndexFormat.blockChunks
                    let row0 = b.by * n * grid.chunk, col0 = b.bx * n * grid.chunk
                    let window = PixelWindow(col: col0, row: row0, width: min(n * grid.chunk, grid.width - col0),
                                             height: min(n * grid.chunk, grid.height - row0))
                    blocks[key] = try SceneIndexBuilder.footprint(grid, grid.grown(window, by: halo))
                }
            }
            self.blocks = blocks
            extent = try SceneIndexBuilder.footprint(grid, PixelWindow(col: 0, row: 0, width: grid.width, height: grid.height))
            searcher = StacSearcher(source: builder.source)
            headers = HeaderIndexer(connections: builder.connections)
        }

        /// For an asset (its href, the item's feature as the catalog gave it, the asset key):
        /// the index fields an earlier build stored for the same object, to keep instead of
        /// reading its header again; nil to read it.
        public typealias Reuse = (_ href: String, _ feature: JSONValue, _ key: String) -> [String: JSONValue]?

        /// Searches the catalog for `bin` and reads the headers of its assets (all of them, or
        /// only those `reuse` gives no fields for). Phases: search, fields kept from an earlier
        /// build, header reads, pruned features with the bin's fingerprint, block membership.
        public func gather(_ bin: TimeBin, headers stats: inout IndexSnapshot.Headers,
                           reuse: Reuse? = nil, readHeaders: Bool? = nil) throws -> BinContent {
            let spec = builder.spec
            var searches = 0, requests = 0
            let query = SearchQuery(footprint: extent, interval: DateInterval(start: bin.start, end: bin.end),
                                    maxCloudCover: spec.stac.maxCloudCover, pageSize: builder.pageSize)
            let found = try builder.search(searcher, query, depth: 0, searches: &searches, requests: &requests)
            // Every sensor's mask and band assets (an item has only its own sensor's keys).
            let assetKeys = spec.assetKeys
            let reads = readHeaders ?? builder.readsHeaders
            let hrefs = Array(Set(found.items.flatMap { item in assetKeys.compactMap { item.assets[$0]?.href } })).sorted()
            let kept = reuse.map { keptFields(found, keys: assetKeys, reuse: $0) } ?? [:]
            let toRead = hrefs.filter { kept[$0] == nil }
            let records = readCOGHeaders(toRead, reads: reads, stats: &stats)
            let (features, fingerprint) = prunedFeatures(found, keys: assetKeys, records: records, kept: kept)
            let headerNote = reads
                ? "\(toRead.count) COG headers read (\(toRead.filter { records[$0]?.error != nil }.count) unreadable)" + (kept.isEmpty ? "" : ", \(hrefs.count - toRead.count) kept")
                : "\(hrefs.count) assets (headers not read)"
            return BinContent(bin: bin, items: found.items, features: features, members: blockMembers(found.items),
                              searches: searches, requests: requests, fingerprint: fingerprint, headerNote: headerNote)
        }

        /// Per asset href, the fields `reuse` keeps from an earlier build (the first asset key
        /// that gives some wins).
        private func keptFields(_ found: SearchResult, keys assetKeys: [String], reuse: Reuse) -> [String: [String: JSONValue]] {
            var kept: [String: [String: JSONValue]] = [:]
            for (item, feature) in zip(found.items, found.features) {
                for key in assetKeys {
                    guard let href = item.assets[key]?.href, kept[href] == nil, let fields = reuse(href, feature, key) else { continue }
                    kept[href] = fields
                }
            }
            return kept
        }

        /// Reads the COG headers of `hrefs` (none unless `reads`), adding the assets, the reads
        /// and their outcomes to `stats`.
        private func readCOGHeaders(_ hrefs: [String], reads: Bool, stats: inout IndexSnapshot.Headers) -> [String: HeaderRecord] {
            let headerStart = Date()
            let requestsBefore = headers.requests, bytesBefore = headers.bytes
            let records = reads ? headers.index(hrefs) : [:]
            stats.assets += hrefs.count
            stats.requests += headers.requests - requestsBefore
            stats.bytes += headers.bytes - bytesBefore
            stats.seconds += Date().timeIntervalSince(headerStart)
            for href in hrefs where reads {
                if let error = records[href]?.error {
                    stats.failed += 1
                    if records[href]?.transient == true { stats.failed_transient = (stats.failed_transient ?? 0) + 1 }
                    if stats.examples.count < 5 { stats.examples.append("\(href): \(error)") }
                } else {
                    stats.indexed += 1
                }
            }
            return records
        }

        /// The features pruned to the cube's assets (with their headers, or the kept fields),
        /// and the bin's fingerprint: item ids, each asset's href, size and ETag.
        private func prunedFeatures(_ found: SearchResult, keys assetKeys: [String], records: [String: HeaderRecord],
                                    kept: [String: [String: JSONValue]]) -> (features: [JSONValue], fingerprint: String) {
            var features: [JSONValue] = []
            var fingerprint = Fingerprint()
            for (item, feature) in zip(found.items, found.features) {
                var pruned = SceneIndexBuilder.prune(feature, item: item, keys: assetKeys, headers: records)
                if !kept.isEmpty { pruned = SceneIndexBuilder.reuseFields(pruned, item: item, keys: assetKeys, reuse: kept) }
                features.append(pruned)
                fingerprint.add(item.id)
                for key in assetKeys {
                    guard let href = item.assets[key]?.href else { continue }
                    let fields = pruned["assets"]?[key]
                    fingerprint.add("\(href) \(fields?[IndexFormat.sizeField]?.intValue ?? 0) \(fields?[IndexFormat.etagField]?.stringValue ?? "")")
                }
            }
            return (features, fingerprint.hex)
        }

        /// Per block, the items that meet it: a land chunk's candidates are only its block's
        /// items (a continental bin has thousands of items and tens of thousands of chunks).
        private func blockMembers(_ items: [StacItem]) -> [BlockKey: [Int]] {
            var members: [BlockKey: [Int]] = [:]
            for (key, outline) in blocks {
                members[key] = items.indices.filter { SceneIndexBuilder.meets(items[$0], outline) }
            }
            return members
        }

        /// The land chunks of `content`'s bin that meet no item.
        public func emptyChunks(_ content: BinContent) -> [(cy: Int, cx: Int)] {
            chunkFootprints.compactMap { c, outline in
                let b = IndexFormat.block(cy: c.cy, cx: c.cx)
                let candidates = content.members[BlockKey(by: b.by, bx: b.bx)] ?? []
                return candidates.contains(where: { SceneIndexBuilder.meets(content.items[$0], outline) }) ? nil : c
            }
        }

        /// Writes the bin's block files; its jobs that meet no item and are not in `done`
        /// become empty jobs (done once the snapshot is written).
        public func write(_ content: BinContent, done: Set<JobID>) throws -> IndexSnapshot.Bin {
            let store = builder.store
            var written = 0
            for (key, list) in content.members.sorted(by: { ($0.key.by, $0.key.bx) < ($1.key.by, $1.key.bx) }) {
                let collection: JSONValue = .object([
                    "type": .string("FeatureCollection"),
                    "features": .array(list.map { content.features[$0] }),
                ])
                try store.put(IndexFormat.blockKey(bin: content.bin.label, by: key.by, bx: key.bx), collection.data(pretty: false))
                written += 1
            }
            let empty = emptyChunks(content)
                .filter { !done.contains(JobID(bin: content.bin.index, cy: $0.cy, cx: $0.cx)) }
                .map { "\($0.cy).\($0.cx)" }
            builder.log?("indexed \(content.bin.label): \(content.items.count) items, \(content.headerNote), \(empty.count) empty jobs")
            return IndexSnapshot.Bin(label: content.bin.label, items: content.items.count, searches: content.searches,
                                     requests: content.requests, blocks: written, empty_jobs: empty.count,
                                     empty: empty, fingerprint: content.fingerprint)
        }
    }

    /// Reads again the headers an earlier build could not read for a network or server failure
    /// (the index is otherwise unchanged: same items, same snapshot), and rewrites the block
    /// files that name them. Returns how many headers are still missing.
    @discardableResult
    public func repairHeaders() throws -> Int {
        guard var snapshot = try Self.snapshot(in: store), (snapshot.headers.failed_transient ?? 0) > 0 else { return 0 }
        let keys = try store.list(prefix: IndexFormat.prefix).filter { $0 != IndexFormat.snapshotKey && $0.hasSuffix(".json") }
        var files: [(key: String, collection: JSONValue)] = []
        var hrefs = Set<String>()
        for key in keys {
            guard let data = try store.get(key), let collection = try? JSONValue.parse(data) else { continue }
            var touched = false
            for feature in collection["features"]?.arrayValue ?? [] {
                for (_, asset) in feature["assets"]?.objectValue ?? [:] where asset[IndexFormat.headerRetryField]?.boolValue == true {
                    if let href = asset["href"]?.stringValue { hrefs.insert(href); touched = true }
                }
            }
            if touched { files.append((key, collection)) }
        }
        let indexer = HeaderIndexer(connections: connections)
        let records = indexer.index(hrefs.sorted())
        var stillTransient = 0, fixed = 0
        for r in records.values {
            if r.header != nil { fixed += 1 } else if r.transient { stillTransient += 1 }
        }
        for (key, collection) in files {
            guard case .object(var top) = collection, let features = collection["features"]?.arrayValue else { continue }
            top["features"] = .array(features.map { feature in
                guard case .object(var f) = feature, case .object(var assets)? = f["assets"] else { return feature }
                for (name, asset) in assets {
                    guard case .object(var fields) = asset, fields[IndexFormat.headerRetryField]?.boolValue == true,
                          let href = fields["href"]?.stringValue, let record = records[href] else { continue }
                    fields[IndexFormat.headerRetryField] = nil
                    fields[IndexFormat.headerErrorField] = nil
                    Self.attach(record, to: &fields)
                    assets[name] = .object(fields)
                }
                f["assets"] = .object(assets)
                return .object(f)
            })
            try store.put(key, JSONValue.object(top).data(pretty: false))
        }
        snapshot.headers.failed -= fixed
        snapshot.headers.indexed += fixed
        snapshot.headers.failed_transient = stillTransient
        snapshot.headers.requests += indexer.requests
        snapshot.headers.bytes += indexer.bytes
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try store.put(IndexFormat.snapshotKey, encoder.encode(snapshot))
        return stillTransient
    }

    /// An asset's index fields for its header record.
    static func attach(_ record: HeaderRecord, to fields: inout [String: JSONValue]) {
        if let header = record.header, let data = try? JSONEncoder().encode(header), let json = try? JSONValue.parse(data) {
            fields[IndexFormat.headerField] = json
            if let size = record.size { fields[IndexFormat.sizeField] = .number(Double(size)) }
            if let etag = record.etag { fields[IndexFormat.etagField] = .string(etag) }
        } else if let error = record.error {
            fields[IndexFormat.headerErrorField] = .string(String(error.prefix(300)))
            if record.transient { fields[IndexFormat.headerRetryField] = .bool(true) }
        }
    }

    /// The index fields an earlier build stored for `item`'s assets, where `reuse` has them
    /// (the asset's object is known unchanged): its header, size and ETag as they were read.
    static func reuseFields(_ feature: JSONValue, item: StacItem, keys: [String],
                            reuse: [String: [String: JSONValue]]) -> JSONValue {
        guard case .object(var object) = feature, case .object(var assets)? = object["assets"] else { return feature }
        for key in keys {
            guard let href = item.assets[key]?.href, let kept = reuse[href], case .object(var fields)? = assets[key] else { continue }
            for name in IndexFormat.headerFields { fields[name] = kept[name] }
            assets[key] = .object(fields)
        }
        object["assets"] = .object(assets)
        return .object(object)
    }

    struct BlockKey: Hashable {
        let by: Int
        let bx: Int
    }

    /// One search, split in four (recursively) when the catalog caps the result.
    func search(_ searcher: StacSearcher, _ query: SearchQuery, depth: Int, searches: inout Int,
                        requests: inout Int) throws -> SearchResult {
        searches += 1
        do {
            let result = try searcher.search(query)
            requests += result.requests
            return result
        } catch let error as StacSearchError {
            switch error {
            case .tooManyItems, .tooManyPages:
                guard depth < 8, let b = query.footprint.bbox else { throw error }
                let midLon = (b.west + b.east) / 2, midLat = (b.south + b.north) / 2
                let quarters = [
                    LonLatBBox(west: b.west, south: b.south, east: midLon, north: midLat),
                    LonLatBBox(west: midLon, south: b.south, east: b.east, north: midLat),
                    LonLatBBox(west: b.west, south: midLat, east: midLon, north: b.north),
                    LonLatBBox(west: midLon, south: midLat, east: b.east, north: b.north),
                ]
                var merged = SearchResult(items: [], features: [], skipped: [], pages: 0, requests: 0)
                var seen = Set<String>()
                for q in quarters {
                    var sub = query
                    sub.footprint = LonLatFootprint(q)
                    let part = try search(searcher, sub, depth: depth + 1, searches: &searches, requests: &requests)
                    for (item, feature) in zip(part.items, part.features) where seen.insert(item.id).inserted {
                        // Only items that meet the whole query's footprint (the quarters are boxes).
                        merged.items.append(item)
                        merged.features.append(feature)
                    }
                    merged.skipped += part.skipped
                }
                let order = merged.items.indices.sorted {
                    (merged.items[$0].datetime, merged.items[$0].id) < (merged.items[$1].datetime, merged.items[$1].id)
                }
                return SearchResult(items: order.map { merged.items[$0] }, features: order.map { merged.features[$0] },
                                    skipped: merged.skipped, pages: 0, requests: 0)
            default:
                throw error
            }
        }
    }

    /// The feature as the index keeps it: every property, only the assets the cube reads, with
    /// hrefs resolved (absolute paths for local catalogs) and each asset's COG header.
    static func prune(_ feature: JSONValue, item: StacItem, keys: [String], headers: [String: HeaderRecord]) -> JSONValue {
        guard case .object(var object) = feature else { return feature }
        var assets: [String: JSONValue] = [:]
        let original = feature["assets"]?.objectValue ?? [:]
        for key in keys {
            guard let asset = item.assets[key], case .object(var fields)? = original[key] else { continue }
            fields["href"] = .string(asset.href)
            if let record = headers[asset.href] { attach(record, to: &fields) }
            assets[key] = .object(fields)
        }
        object["assets"] = .object(assets)
        object["links"] = nil
        return .object(object)
    }

    static func meets(_ item: StacItem, _ outline: LonLatFootprint) -> Bool {
        guard let box = outline.bbox, item.bbox.intersects(box) else { return false }
        return item.footprint.intersects(outline)
    }

    static func footprint(_ grid: GeoBox, _ window: PixelWindow) throws -> LonLatFootprint {
        try grid.lonLatFootprint(window)
    }

    /// How index files' hrefs are read back: remote catalogs stay remote; a local catalog's
    /// hrefs were resolved to absolute paths.
    public static func hrefPolicy(_ source: StacSource) -> HrefPolicy {
        switch source {
        case .api: return .remote
        case .file: return .local(catalogDirectory: URL(fileURLWithPath: "/"))
        }
    }

    static func describe(_ source: StacSource) -> String {
        switch source {
        case .api(let url, _): return URLRedaction.redact(url)
        case .file(let path, _): return path
        }
    }

    /// The searched collections as the snapshot records them ("a,b"; nil for any).
    static func collection(_ source: StacSource) -> String? {
        source.collections.isEmpty ? nil : source.collections.joined(separator: ",")
    }
}
