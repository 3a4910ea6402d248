import Foundation
import JSON
import StacItems

/// The STAC item-search request, as a POST body or as GET query parameters. Only core
/// parameters are used (no query/filter extensions): the rest is filtered on the client.
enum SearchBody {
    static func json(collections: [String], query: SearchQuery) -> JSONValue {
        var body: [String: JSONValue] = [
            "collections": .array(collections.map { .string($0) }),
            "datetime": .string(datetime(query.interval)),
            "limit": .number(Double(query.pageSize)),
        ]
        switch query.spatialParameter {
        case .bbox:
            if let b = query.footprint.bbox { body["bbox"] = .array(b.array.map { .number($0) }) }
        case .intersects:
            body["intersects"] = query.footprint.geoJSON
        }
        return .object(body)
    }

    /// `{api}/search?collections=…&bbox=…&datetime=…&limit=…`.
    static func getURL(searchURL: URL, collections: [String], query: SearchQuery) -> URL? {
        guard var parts = URLComponents(url: searchURL, resolvingAgainstBaseURL: true) else { return nil }
        var items = parts.queryItems ?? []
        items.append(URLQueryItem(name: "collections", value: collections.joined(separator: ",")))
        switch query.spatialParameter {
        case .bbox:
            if let b = query.footprint.bbox {
                items.append(URLQueryItem(name: "bbox", value: b.array.map { number($0) }.joined(separator: ",")))
            }
        case .intersects:
            items.append(URLQueryItem(name: "intersects",
                                      value: query.footprint.geoJSON.serialized(pretty: false)))
        }
        items.append(URLQueryItem(name: "datetime", value: datetime(query.interval)))
        items.append(URLQueryItem(name: "limit", value: String(query.pageSize)))
        parts.queryItems = items
        // '+' would read as a space on many servers.
        parts.percentEncodedQuery = parts.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return parts.url
    }

    /// Full RFC 3339 on both ends (some servers reject date-only intervals). The server treats
    /// the end as inclusive, so it may return items at exactly `end`; the client filter drops them.
    static func datetime(_ interval: DateInterval) -> String {
        "\(RFC3339.format(interval.start))/\(RFC3339.format(interval.end))"
    }

    private static func number(_ v: Double) -> String {
        v.rounded() == v && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
