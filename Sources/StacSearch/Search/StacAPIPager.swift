import Foundation
import HTTPClient
import JSON

/// Reads every result page of one item search from a STAC API: POST first, GET when the
/// server does not take POST searches, then `next` links until there are none. Guards against
/// endless paging (a repeated request, a page cap) and oversized pages or results.
final class StacAPIPager {
    private let client: HTTPClient
    private let limits: SearchLimits
    private let searchURL: URL
    private(set) var pages = 0

    init(client: HTTPClient, searchURL: URL, limits: SearchLimits) {
        self.client = client
        self.searchURL = searchURL
        self.limits = limits
    }

    /// Calls `onFeature` for every feature of every page, with the 1-based page number.
    func fetchAll(collections: [String], query: SearchQuery, onFeature: (JSONValue, Int) -> Void) throws {
        var request = PageRequest(method: "POST", url: searchURL, body: SearchBody.json(collections: collections, query: query))
        var seen = Set<String>()
        var featureCount = 0
        while true {
            guard seen.insert(request.signature).inserted else {
                throw StacSearchError.pagingLoop(url: URLRedaction.redact(request.url))
            }
            guard pages < limits.maxPages else { throw StacSearchError.tooManyPages(pages) }
            let response: HTTPResponse
            do {
                response = try send(request)
            } catch let error as HTTPError where pages == 0 && request.method == "POST"
                && [404, 405, 501].contains(error.status ?? 0) {
                // This server does not search by POST: ask the same by GET.
                guard let url = SearchBody.getURL(searchURL: searchURL, collections: collections, query: query) else {
                    throw error
                }
                request = PageRequest(method: "GET", url: url, body: nil)
                continue
            }
            pages += 1
            let page: JSONValue
            do {
                page = try JSONValue.parse(response.body)
            } catch {
                throw StacSearchError.badResponse(url: URLRedaction.redact(request.url), why: "page \(pages) is not JSON")
            }
            guard let features = page["features"]?.arrayValue else {
                throw StacSearchError.badResponse(url: URLRedaction.redact(request.url),
                                                  why: "page \(pages) is not an ItemCollection (no features list)")
            }
            featureCount += features.count
            guard featureCount <= limits.maxItems else { throw StacSearchError.tooManyItems(limits.maxItems) }
            for feature in features { onFeature(feature, pages) }
            // An empty page ends the search even if it links on.
            guard !features.isEmpty, let next = try nextRequest(in: page, after: request) else { return }
            request = next
        }
    }

    private func send(_ request: PageRequest) throws -> HTTPResponse {
        if request.method == "POST" {
            return try client.postJSON(url: request.url, body: (request.body ?? .object([:])).data(pretty: false),
                                       maxResponseBytes: limits.maxPageBytes)
        }
        return try client.request(method: "GET", url: request.url,
                                  headers: ["Accept": "application/geo+json, application/json"],
                                  maxResponseBytes: limits.maxPageBytes)
    }

    /// The request a `rel: next` link asks for: a GET of its href, or a POST with its `body`
    /// (merged into the current body when `merge` is true; the current body when it has none).
    private func nextRequest(in page: JSONValue, after current: PageRequest) throws -> PageRequest? {
        guard let link = page["links"]?.arrayValue?.first(where: { $0["rel"]?.stringValue == "next" }) else { return nil }
        guard let href = link["href"]?.stringValue, !href.isEmpty else {
            throw StacSearchError.nextLinkRejected(href: "", why: "it has no href")
        }
        guard let url = URL(string: href, relativeTo: current.url)?.absoluteURL else {
            throw StacSearchError.nextLinkRejected(href: href, why: "it is not a URL")
        }
        // Paging must stay on the API we were given: a catalog cannot send us elsewhere.
        guard url.scheme?.lowercased() == searchURL.scheme?.lowercased(),
              url.host?.lowercased() == searchURL.host?.lowercased(), url.port == searchURL.port
        else {
            throw StacSearchError.nextLinkRejected(href: URLRedaction.redact(url), why: "it leaves the API host")
        }
        switch (link["method"]?.stringValue ?? "GET").uppercased() {
        case "GET":
            return PageRequest(method: "GET", url: url, body: nil)
        case "POST":
            var body: JSONValue? = link["body"]
            if body?.isNull == true { body = nil }
            if link["merge"]?.boolValue == true, let extra = body {
                body = (current.body ?? .object([:])).merging(extra)
            } else if body == nil {
                body = current.body
            }
            return PageRequest(method: "POST", url: url, body: body)
        case let other:
            throw StacSearchError.nextLinkRejected(href: URLRedaction.redact(url), why: "method \(other) is not GET or POST")
        }
    }
}

/// One page request; the signature tells repeats apart from progress.
private struct PageRequest {
    var method: String
    var url: URL
    var body: JSONValue?

    var signature: String {
        "\(method) \(url.absoluteString) \(body.map { $0.serialized(pretty: false) } ?? "")"
    }
}
