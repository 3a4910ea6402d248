import CubeGrid
import CubeJobs
import CubePlan
import CubeSpec
import CubeStore
import Foundation
import HTTPClient
import JSON
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
        let ledger = JobLedger(store: store, plan: plan)
        let doneNow = Set(try ledger.doneJobs())

        let grid = plan.grid
        let chunkFootprints = try plan.landChunks.map { c in
            (c, try Self.footprint(grid, grid.chunkWindow(cy: c.cy, cx: c.cx)))
        }
        var blocks: [BlockKey: StacSearch.LonLatFootprint] = [:]
        for (c, _) in chunkFootprints {
            let b = IndexFormat.block(cy: c.cy, cx: c.cx)
            let key = BlockKey(by: b.by, bx: b.bx)
            if blocks[key] == nil {
                let n = IndexFormat.blockChunks
                let row0 = b.by * n * grid.chunk, col0 = b.bx * n * grid.chunk
                let window = PixelWindow(col: col0, row: row0, width: min(n * grid.chunk, grid.width - col0),
                                         height: min(n * grid.chunk, grid.height - row0))
                blocks[key] = try Self.footprint(grid, window)
            }
        }
        let extent = try Self.footprint(grid, PixelWindow(col: 0, row: 0, width: grid.width, height: grid.height))
        let searcher = StacSearcher(source: source)
        let headers = HeaderIndexer(connections: connections)
        var headerStats = IndexSnapshot.Headers(assets: 0, indexed: 0, failed: 0, failed_transient: 0, requests: 0,
                                                bytes: 0, seconds: 0, examples: [])
        var bins: [IndexSnapshot.Bin] = []
        var fingerprint = Fingerprint()
        // Every sensor's mask and band assets (an item has only its own sensor's keys).
        let assetKeys = spec.assetKeys

        for bin in plan.bins {
            // Search.
            var searches = 0, requests = 0
            let query = SearchQuery(footprint: extent, interval: DateInterval(start: bin.start, end: bin.end),
                                    maxCloudCover: spec.stac.maxCloudCover, pageSize: pageSize)
            let found = try search(searcher, query, depth: 0, searches: &searches, requests: &requests)

            // Headers of every needed asset.
            let hrefs = Array(Set(found.items.flatMap { item in assetKeys.compactMap { item.assets[$0]?.href } })).sorted()
            let headerStart = Date()
            let requestsBefore = headers.requests, bytesBefore = headers.bytes
            let records = readsHeaders ? headers.index(hrefs) : [:]
            headerStats.assets += hrefs.count
            headerStats.requests += headers.requests - requestsBefore
            headerStats.bytes += headers.bytes - bytesBefore
            headerStats.seconds += Date().timeIntervalSince(headerStart)
            for href in hrefs where readsHeaders {
                if let error = records[href]?.error {
                    headerStats.failed += 1
                    if records[href]?.transient == true { headerStats.failed_transient = (headerStats.failed_transient ?? 0) + 1 }
                    if headerStats.examples.count < 5 { headerStats.examples.append("\(href): \(error)") }
                } else {
                    headerStats.indexed += 1
                }
            }

            // Pruned features with their headers.
            var features: [JSONValue] = []
            for (item, feature) in zip(found.items, found.features) {
                let pruned = Self.prune(feature, item: item, keys: assetKeys, headers: records)
                features.append(pruned)
                fingerprint.add(bin.label)
                fingerprint.add(item.id)
                for key in assetKeys {
                    guard let href = item.assets[key]?.href else { continue }
                    let r = records[href]
                    fingerprint.add("\(href) \(r?.size ?? 0) \(r?.etag ?? "")")
                }
            }

            // Per block: the items that meet it; per land chunk, only its block's items are
            // candidates (a continental bin has thousands of items and tens of thousands of chunks).
            var written = 0
            var empty: [String] = []
            var members: [BlockKey: [Int]] = [:]
            for (key, outline) in blocks {
                members[key] = found.items.indices.filter { Self.meets(found.items[$0], outline) }
            }
            for (key, list) in members.sorted(by: { ($0.key.by, $0.key.bx) < ($1.key.by, $1.key.bx) }) {
                let collection: JSONValue = .object([
                    "type": .string("FeatureCollection"),
                    "features": .array(list.map { features[$0] }),
                ])
                try store.put(IndexFormat.blockKey(bin: bin.label, by: key.by, bx: key.bx), collection.data(pretty: false))
                written += 1
            }

            // Jobs that meet no item (not built already): done once the snapshot is written.
            for (c, outline) in chunkFootprints {
                let job = JobID(bin: bin.index, cy: c.cy, cx: c.cx)
                if doneNow.contains(job) { continue }
                let b = IndexFormat.block(cy: c.cy, cx: c.cx)
                let candidates = members[BlockKey(by: b.by, bx: b.bx)] ?? []
                if candidates.contains(where: { Self.meets(found.items[$0], outline) }) { continue }
                empty.append("\(c.cy).\(c.cx)")
            }
            bins.append(IndexSnapshot.Bin(label: bin.label, items: found.items.count, searches: searches,
                                          requests: requests, blocks: written, empty_jobs: empty.count,
                                          empty: empty))
            let headerNote = readsHeaders
                ? "\(hrefs.count) COG headers (\(hrefs.filter { records[$0]?.error != nil }.count) unreadable)"
                : "\(hrefs.count) assets (headers not read)"
            log?("indexed \(bin.label): \(found.items.count) items, \(headerNote), \(empty.count) empty jobs")
        }

        let snapshot = IndexSnapshot(
            format: IndexFormat.formatName, snapshot: fingerprint.hex,
            created: ISO8601DateFormatter().string(from: Date()), source: Self.describe(source),
            collection: Self.collection(source), block_chunks: IndexFormat.blockChunks, bins: bins,
            headers: headerStats, seconds: Date().timeIntervalSince(started))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try store.put(IndexFormat.snapshotKey, encoder.encode(snapshot))
        return snapshot
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

    struct BlockKey: Hashable {
        let by: Int
        let bx: Int
    }

    /// One search, split in four (recursively) when the catalog caps the result.
    private func search(_ searcher: StacSearcher, _ query: SearchQuery, depth: Int, searches: inout Int,
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
                    sub.footprint = StacSearch.LonLatFootprint(q)
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

    static func meets(_ item: StacItem, _ outline: StacSearch.LonLatFootprint) -> Bool {
        guard let box = outline.bbox, item.bbox.intersects(box) else { return false }
        return item.footprint.intersects(outline)
    }

    static func footprint(_ grid: GeoBox, _ window: PixelWindow) throws -> StacSearch.LonLatFootprint {
        let outline = try grid.lonLatFootprint(window)
        return StacSearch.LonLatFootprint(LonLatPolygon(exterior: outline.ring.map { LonLat($0.lon, $0.lat) }))
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
