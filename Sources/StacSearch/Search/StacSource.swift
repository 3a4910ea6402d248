import CubeCore
import Foundation
import JSON
import StacItems

/// Where items come from.
public enum StacSource: Sendable, Equatable {
    /// A STAC API root (the `/search` endpoint is appended) and the collections to search
    /// (one search names them all).
    case api(URL, collections: [String])
    /// A local STAC ItemCollection (or single Feature) JSON file, or a newline-delimited file
    /// of items. `collections`, when not empty, keeps only items of those collections.
    case file(path: String, collections: [String])

    /// The collections searched (empty: every collection of a local file).
    public var collections: [String] {
        switch self {
        case .api(_, let c), .file(_, let c): return c
        }
    }
}

/// What to search for.
public struct SearchQuery: Sendable {
    public enum SpatialParameter: Sendable {
        /// Send the footprint's bounding box (understood by every server, GET included).
        case bbox
        /// Send the footprint itself as GeoJSON `intersects`.
        case intersects
    }

    public var footprint: LonLatFootprint
    /// Half-open [start, end), applied exactly on the client.
    public var interval: DateInterval
    public var maxCloudCover: Double?
    /// Items per page asked of the server.
    public var pageSize: Int
    public var spatialParameter: SpatialParameter

    public init(footprint: LonLatFootprint, interval: DateInterval, maxCloudCover: Double? = nil,
                pageSize: Int = 100, spatialParameter: SpatialParameter = .bbox) {
        self.footprint = footprint
        self.interval = interval
        self.maxCloudCover = maxCloudCover
        self.pageSize = max(1, pageSize)
        self.spatialParameter = spatialParameter
    }
}

/// Bounds that keep a broken or hostile server from making a search run forever or eat memory.
public struct SearchLimits: Sendable {
    public var maxPages: Int
    public var maxItems: Int
    public var maxPageBytes: Int

    public init(maxPages: Int = 1000, maxItems: Int = 100_000, maxPageBytes: Int = 64 << 20) {
        self.maxPages = maxPages
        self.maxItems = maxItems
        self.maxPageBytes = maxPageBytes
    }
}

/// The items that passed parsing and the filters, sorted by (datetime, id), and every item
/// left out with its reason (for the job log).
public struct SearchResult: Sendable {
    public var items: [StacItem]
    /// Each item's feature as received (same order as `items`): what a scene index stores.
    public var features: [JSONValue] = []
    public var skipped: [SkippedItem]
    /// Result pages read (1 for a local file).
    public var pages: Int
    /// HTTP requests made, retries included (0 for a local file).
    public var requests: Int

    public init(items: [StacItem], features: [JSONValue] = [], skipped: [SkippedItem], pages: Int, requests: Int) {
        self.items = items
        self.features = features
        self.skipped = skipped
        self.pages = pages
        self.requests = requests
    }
}

public enum StacSearchError: Error, Sendable, CustomStringConvertible {
    case badResponse(url: String, why: String)
    case pagingLoop(url: String)
    case tooManyPages(Int)
    case tooManyItems(Int)
    case pageTooLarge(url: String, bytes: Int)
    case nextLinkRejected(href: String, why: String)
    case catalogFile(path: String, why: String)
    case clientUnavailable(String)

    public var description: String {
        switch self {
        case .badResponse(let url, let why): return "STAC search \(url): \(why)"
        case .pagingLoop(let url): return "STAC search paging loops (next link repeats): \(url)"
        case .tooManyPages(let n): return "STAC search stopped after \(n) pages (page cap)"
        case .tooManyItems(let n): return "STAC search returned more than \(n) items (item cap)"
        case .pageTooLarge(let url, let bytes): return "STAC search page from \(url) is \(bytes) bytes, over the page size cap"
        case .nextLinkRejected(let href, let why): return "STAC next link \(href.prefix(200)) rejected: \(why)"
        case .catalogFile(let path, let why): return "STAC catalog file \(path): \(why)"
        case .clientUnavailable(let why): return "no HTTP client: \(why)"
        }
    }
}
