import CubeCore
import CubeJobs
import Foundation
import JSON
import SceneIndex
import StacItems
import StacSearch
import Testing

/// Done records name each scene's objects by the catalog's own `file:checksum` when it has one:
/// checked on genuine Earth Search Collection 1 items (shared/data, saved unmodified).
@Suite struct ProvenanceTests {
    static let genuine = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/stac-items/earth-search/stac-utils__pystac-client/TestCLISearch.test_filter_inprocess@0f1f16de__resp2.json")
        .standardizedFileURL

    @Test func genuineItemsAreKnownByTheirChecksums() throws {
        let collection = try JSONValue.parse(Data(contentsOf: Self.genuine))
        let features = try #require(collection["features"]?.arrayValue)
        #expect(features.count == 10)
        let world = LonLatFootprint(LonLatBBox(west: -180, south: -85, east: 180, north: 85))
        let query = SearchQuery(footprint: world,
                                interval: DateInterval(start: RFC3339.parse("2024-01-01T00:00:00Z")!,
                                                       end: RFC3339.parse("2025-01-01T00:00:00Z")!),
                                maxCloudCover: nil)
        let (result, observations) = JobScenes.observations(features: features, policy: .remote,
                                                            collections: ["sentinel-2-c1-l2a"],
                                                            query: query)
        // The response mixes Sentinel-1 GRD items in; the two Sentinel-2 Collection 1 items remain.
        #expect(result.items.map(\.id).sorted() == ["S2B_T37XCF_20240228T102857_L2A", "S2B_T38XMK_20240228T102857_L2A"])
        let scenes = JobScenes.provenance(observations, result: result, assetKeys: ["red", "nir", "scl"])
        #expect(scenes.count == 2)
        let byID = Dictionary(uniqueKeysWithValues: features.map { ($0["id"]!.stringValue!, $0) })
        for scene in scenes {
            let feature = try #require(byID[scene.id])
            #expect(scene.updated == feature["properties"]?["updated"]?.stringValue)
            #expect(scene.datetime == feature["properties"]?["datetime"]?.stringValue)
            #expect(scene.tile != nil)
            for key in ["red", "nir", "scl"] {
                let sum = try #require(feature["assets"]?[key]?["file:checksum"]?.stringValue)
                #expect(scene.assets[key] == .some("checksum:\(sum)"))
            }
        }
        // A different checksum is a changed scene; the same catalog is no change.
        var touched = scenes
        touched[0].assets["red"] = "checksum:1220ffff"
        #expect(SceneChange.between(built: scenes, now: touched).changed == [scenes[0].id])
        #expect(SceneChange.between(built: scenes, now: scenes).isEmpty)
    }
}

