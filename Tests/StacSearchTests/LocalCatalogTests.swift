import CubeCore
import Foundation
import StacItems
import Testing
@testable import StacSearch

@Suite struct LocalCatalogTests {
    let march = DateInterval(start: RFC3339.parse("2024-03-01T00:00:00Z")!, end: RFC3339.parse("2024-04-01T00:00:00Z")!)
    let area = LonLatFootprint(LonLatBBox(west: 9.2, south: 45.2, east: 9.4, north: 45.4))

    /// Six items: two kept, the rest each failing one filter or the href rule.
    func items() -> [[String: Any]] {
        [
            ItemFixtures.earthSearchItem(id: "keep-1", datetime: "2024-03-01T00:00:00Z"),  // exactly at start: in
            ItemFixtures.earthSearchItem(id: "keep-2", datetime: "2024-03-31T23:59:59.999Z"),
            ItemFixtures.earthSearchItem(id: "at-end", datetime: "2024-04-01T00:00:00Z"),  // end is exclusive
            ItemFixtures.earthSearchItem(id: "cloudy", cloud: 80),
            ItemFixtures.earthSearchItem(id: "far", lon: 20, lat: 10),
            setting(ItemFixtures.earthSearchItem(id: "other-coll"), ["collection"], "landsat-c2-l2"),
        ]
    }

    @Test func itemCollectionFileFiltersExactly() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file = dir.url.appendingPathComponent("items.json")
        var local = ItemFixtures.earthSearchItem(id: "relative", datetime: "2024-03-10T10:00:00Z")
        local = setting(local, ["assets", "red", "href"], "scenes/B04.tif")
        try ItemFixtures.collection(items() + [local]).write(to: file)

        let searcher = StacSearcher(source: .file(path: file.path, collections: ["sentinel-2-l2a"]))
        let result = try searcher.search(footprint: area, interval: march, maxCloudCover: 50)
        #expect(result.items.map(\.id) == ["keep-1", "relative", "keep-2"])
        #expect(result.items[1].assets["red"]?.href == dir.url.appendingPathComponent("scenes/B04.tif").standardizedFileURL.path)
        // Items outside the query's time and place are not "found" in a local catalog: not listed.
        #expect(Set(result.skipped.map(\.id)) == ["cloudy", "other-coll"])
        #expect(result.skipped.first { $0.id == "cloudy" }?.reason.contains("eo:cloud_cover 80") == true)
        #expect(result.pages == 1 && result.requests == 0)
    }

    @Test func ndjsonFileGoesThroughTheSameFilters() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let file = dir.url.appendingPathComponent("items.ndjson")
        var lines = try items().map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        lines.insert("{not json", at: 2)
        lines.append("")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)

        let result = try StacSearcher(source: .file(path: file.path, collections: []))
            .search(footprint: area, interval: march, maxCloudCover: nil)
        #expect(result.items.map(\.id) == ["keep-1", "cloudy", "other-coll", "keep-2"])  // by datetime
        #expect(result.skipped.contains(SkippedItem(id: "<line 3>", reason: "line is not JSON")))
        #expect(Set(result.skipped.map(\.id)) == ["<line 3>"])
    }

    @Test func unreadableOrForeignFilesFailClearly() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let missing = StacSearcher(source: .file(path: dir.url.appendingPathComponent("nope.json").path, collections: []))
        #expect(throws: StacSearchError.self) { try missing.search(footprint: area, interval: march, maxCloudCover: nil) }
        let file = dir.url.appendingPathComponent("catalog.json")
        try Data(#"{"type": "Catalog", "id": "x"}"#.utf8).write(to: file)
        do {
            _ = try StacSearcher(source: .file(path: file.path, collections: [])).search(footprint: area, interval: march, maxCloudCover: nil)
            Issue.record("a Catalog file was accepted as items")
        } catch {
            #expect("\(error)".contains("neither a FeatureCollection"))
        }
    }
}
