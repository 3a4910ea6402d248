import CubeCore
import Foundation
import HTTPClient
import StacItems
import Testing
@testable import StacSearch

/// A search against a real STAC API: `rustac serve` (from the test venv) on a free loopback
/// port, loaded with generated items. Skipped when the venv has no rustac.
@Suite(.timeLimit(.minutes(2))) struct RustacServerTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: RepoPaths.rustac)))
    func pagedSearchReturnsEveryItemOnce() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // 9 scenes in March over two tiles, plus decoys the query must not return.
        var items: [[String: Any]] = []
        for day in 1...9 {
            let tile = day % 2 == 0 ? (32, "T", "NS") : (32, "T", "NR")
            items.append(ItemFixtures.earthSearchItem(id: "S2B_32T\(tile.2)_202403\(String(format: "%02d", day))_0_L2A",
                                                      datetime: String(format: "2024-03-%02dT10:27:43.588Z", day),
                                                      lon: 9, lat: day % 2 == 0 ? 45 : 44.2, tile: tile))
        }
        items.append(ItemFixtures.earthSearchItem(id: "february", datetime: "2024-02-28T10:00:00Z"))
        items.append(ItemFixtures.earthSearchItem(id: "elsewhere", lon: -60, lat: -10))
        let file = dir.url.appendingPathComponent("items.json")
        try ItemFixtures.collection(items).write(to: file)

        let server = try LocalServer.rustac(itemsFile: file)
        defer { server.stop() }
        let client = try HTTPClient(configuration: .init(retry: RetryPolicy(maxAttempts: 2), timeout: 20))
        let searcher = StacSearcher(source: .api(server.baseURL, collections: ["sentinel-2-l2a"]), httpClient: client)
        let query = SearchQuery(footprint: LonLatFootprint(LonLatBBox(west: 9.4, south: 44.6, east: 9.6, north: 45.4)),
                                interval: DateInterval(start: RFC3339.parse("2024-03-01T00:00:00Z")!,
                                                       end: RFC3339.parse("2024-04-01T00:00:00Z")!),
                                pageSize: 4)
        let result = try searcher.search(query)
        #expect(result.items.map(\.id) == items.prefix(9).map { $0["id"] as! String })
        #expect(result.skipped.isEmpty, "\(result.skipped)")
        #expect(result.pages >= 3)

        let (obs, dropped) = searcher.observations(from: result.items, footprint: query.footprint)
        #expect(obs.count == 9)
        #expect(dropped.isEmpty)
    }
}
