import CubeCore
import Foundation
import HTTPClient
import JSON
import StacItems

/// The search stage of a chunk job: finds the items of its collections over a footprint and a
/// time interval, from a STAC API or a local catalog file, and turns them into observations.
///
/// Both sources go through the same parsing and client-side filters (collection, [start, end),
/// cloud cover, footprint intersection), so a server that ignores part of the query cannot
/// widen the result. Uses its HTTP client from one thread at a time.
public final class StacSearcher {
    public let source: StacSource
    public let limits: SearchLimits
    private var httpClient: HTTPClient?

    /// `httpClient` is only used for `.api` sources; one is made on first use when not given.
    public init(source: StacSource, httpClient: HTTPClient? = nil, limits: SearchLimits = SearchLimits()) {
        self.source = source
        self.httpClient = httpClient
        self.limits = limits
    }

    public func search(footprint: LonLatFootprint, interval: DateInterval, maxCloudCover: Double?) throws -> SearchResult {
        try search(SearchQuery(footprint: footprint, interval: interval, maxCloudCover: maxCloudCover))
    }

    public func search(_ query: SearchQuery) throws -> SearchResult {
        switch source {
        case .api(let root, let collections):
            return try searchAPI(root: root, collections: collections, query: query)
        case .file(let path, let collections):
            return try searchFile(path: path, collections: collections, query: query)
        }
    }

    /// Footprint filter, dedup of reprocessed scenes, solar-day grouping (see `SolarDayGrouping`).
    public func observations(from items: [StacItem], footprint: LonLatFootprint?)
        -> (observations: [Observation], dropped: [SkippedItem]) {
        SolarDayGrouping.observations(from: items, footprint: footprint)
    }

    private func searchAPI(root: URL, collections: [String], query: SearchQuery) throws -> SearchResult {
        let client = try client()
        let attemptsBefore = client.attemptCount
        let pager = StacAPIPager(client: client, searchURL: root.appendingPathComponent("search"), limits: limits)
        var collector = ItemCollector(parser: StacItemParser(hrefPolicy: .remote),
                                      filter: filter(collections: collections, query: query))
        try pager.fetchAll(collections: collections, query: query) { feature, page in
            collector.add(feature, label: "page \(page)")
        }
        return collector.result(pages: pager.pages, requests: client.attemptCount - attemptsBefore)
    }

    private func searchFile(path: String, collections: [String], query: SearchQuery) throws -> SearchResult {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        // A local file holds the whole catalog: items outside the query's place and time are
        // not "found" and not worth a line in the job log (a server would not have returned
        // them); collection and cloud-cover rejections are still listed.
        var collector = ItemCollector(parser: StacItemParser(hrefPolicy: .local(catalogDirectory: directory)),
                                      filter: filter(collections: collections, query: query), reportsRejections: false)
        for (label, value) in try LocalCatalog.features(path: path) {
            switch value {
            case .success(let feature): collector.add(feature, label: label)
            case .failure(let problem): collector.skipped.append(SkippedItem(id: "<\(label)>", reason: problem.description))
            }
        }
        return collector.result(pages: 1, requests: 0)
    }

    /// Parses and filters features already at hand (the cube's scene index) exactly as a search
    /// would: same parser, filters and order. Items outside the query's place and time are
    /// dropped without a record, as for a local catalog file.
    public static func select(features: [JSONValue], hrefPolicy: HrefPolicy, collections: [String],
                              query: SearchQuery) -> SearchResult {
        var collector = ItemCollector(parser: StacItemParser(hrefPolicy: hrefPolicy),
                                      filter: ItemFilter(collections: collections, interval: query.interval,
                                                         footprint: query.footprint, maxCloudCover: query.maxCloudCover),
                                      reportsRejections: false)
        for (i, feature) in features.enumerated() { collector.add(feature, label: "index item \(i + 1)") }
        return collector.result(pages: 0, requests: 0)
    }

    private func filter(collections: [String], query: SearchQuery) -> ItemFilter {
        ItemFilter(collections: collections, interval: query.interval, footprint: query.footprint,
                   maxCloudCover: query.maxCloudCover)
    }

    private func client() throws -> HTTPClient {
        if let httpClient { return httpClient }
        do {
            let made = try HTTPClient()
            httpClient = made
            return made
        } catch {
            throw StacSearchError.clientUnavailable("\(error)")
        }
    }
}

/// Parses, filters and de-duplicates (by id) features as they arrive.
private struct ItemCollector {
    let parser: StacItemParser
    let filter: ItemFilter
    /// False: items outside the query's interval or footprint are dropped without a record.
    var reportsRejections = true
    var items: [StacItem] = []
    /// The feature of each item, as received.
    var features: [JSONValue] = []
    var skipped: [SkippedItem] = []
    var seenIDs = Set<String>()

    mutating func add(_ feature: JSONValue, label: String) {
        switch parser.parse(feature) {
        case .failure(let problem):
            let id = StacItemParser.idForLog(feature) ?? "<\(label)>"
            skipped.append(SkippedItem(id: id, reason: problem.description))
        case .success(let item):
            guard seenIDs.insert(item.id).inserted else {
                skipped.append(SkippedItem(id: item.id, reason: "returned again (\(label))"))
                return
            }
            if let why = filter.rejection(item) {
                if reportsRejections || !filter.isOutsideQuery(item) {
                    skipped.append(SkippedItem(id: item.id, reason: why.description))
                }
            } else {
                items.append(item)
                features.append(feature)
            }
        }
    }

    func result(pages: Int, requests: Int) -> SearchResult {
        let order = items.indices.sorted { (items[$0].datetime, items[$0].id) < (items[$1].datetime, items[$1].id) }
        return SearchResult(items: order.map { items[$0] }, features: order.map { features[$0] },
                            skipped: skipped, pages: pages, requests: requests)
    }
}
