import CubeCore
import Foundation
import HTTPClient
import StacItems
import Testing
@testable import StacSearch

/// Searches against the local Python fake server (tests/python/fake_stac_server.py), which
/// returns every item unfiltered, pages by `limit`, and offers POST/merge, GET-only, looping
/// and host-hopping `next` links.
@Suite(.timeLimit(.minutes(1))) struct PagingTests {
    let march = DateInterval(start: RFC3339.parse("2024-03-01T00:00:00Z")!, end: RFC3339.parse("2024-04-01T00:00:00Z")!)
    let area = LonLatFootprint(LonLatBBox(west: 9.2, south: 45.2, east: 9.4, north: 45.4))

    /// 7 in-range items on distinct days plus one in April (which the client must drop).
    func catalog() -> Data {
        var items = (1...7).map { day in
            ItemFixtures.earthSearchItem(id: String(format: "S2A_32TNS_202403%02d_0_L2A", day),
                                         datetime: String(format: "2024-03-%02dT10:27:43.588Z", day))
        }
        items.append(ItemFixtures.earthSearchItem(id: "april", datetime: "2024-04-01T00:00:00Z"))
        return ItemFixtures.collection(items)
    }

    func search(_ route: String, pageSize: Int = 3, limits: SearchLimits = SearchLimits()) throws -> (SearchResult, HTTPClient) {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let server = try LocalServer.fake(items: catalog(), in: dir)
        defer { server.stop() }
        let client = try HTTPClient(configuration: .init(retry: .none, timeout: 10))
        let searcher = StacSearcher(source: .api(server.baseURL.appendingPathComponent(route), collections: ["sentinel-2-l2a"]),
                                    httpClient: client, limits: limits)
        let result = try searcher.search(SearchQuery(footprint: area, interval: march, pageSize: pageSize))
        return (result, client)
    }

    @Test func postPagingWithMergedNextBodies() throws {
        let (result, _) = try search("post")
        #expect(result.items.count == 7)
        #expect(Set(result.items.map(\.id)).count == 7)
        #expect(result.pages == 3)  // 3 + 3 + 2 features
        #expect(result.requests == 3)
        #expect(result.skipped.map(\.id) == ["april"])
    }

    @Test func getFallbackWhenPostIsNotAllowed() throws {
        let (result, _) = try search("getonly", pageSize: 2)
        #expect(result.items.count == 7)
        #expect(result.pages == 4)
        #expect(result.requests == 5)  // the refused POST, then 4 GET pages
    }

    @Test func repeatedNextLinkStopsWithAnError() throws {
        do {
            _ = try search("loop")
            Issue.record("a looping next link was followed without end")
        } catch let error as StacSearchError {
            guard case .pagingLoop = error else { Issue.record("wrong error \(error)"); return }
        }
    }

    @Test func pageCapStopsPaging() throws {
        #expect(throws: StacSearchError.self) { _ = try search("post", pageSize: 1, limits: SearchLimits(maxPages: 4)) }
    }

    @Test func oversizedPageFails() throws {
        do {
            _ = try search("post", limits: SearchLimits(maxPageBytes: 2000))
            Issue.record("an oversized page was accepted")
        } catch let error as HTTPError {
            #expect("\(error)".contains("exceeds 2000 bytes"))
        }
    }

    @Test func nextLinkToAnotherHostIsRejected() throws {
        do {
            _ = try search("hostile")
            Issue.record("followed a next link to another host")
        } catch let error as StacSearchError {
            #expect("\(error)".contains("leaves the API host"))
        }
    }
}
