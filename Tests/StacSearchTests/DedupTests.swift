import Foundation
import StacItems
import Testing
@testable import StacSearch

@Suite struct DedupTests {
    func item(_ id: String, baseline: String = "05.10", updated: String = "2024-03-05T18:00:00Z",
              datetime: String = "2024-03-05T10:27:43.588Z", tile: (Int, String, String) = (32, "T", "NS")) throws -> StacItem {
        try ItemFixtures.item(ItemFixtures.earthSearchItem(id: id, datetime: datetime, baseline: baseline,
                                                           tile: tile, updated: updated))
    }

    @Test func highestBaselineWins() throws {
        let (kept, dropped) = SceneDedup.dedup([
            try item("S2A_32TNS_20240305_0_L2A", baseline: "05.09"),
            try item("S2A_32TNS_20240305_1_L2A", baseline: "05.10"),
            try item("S2A_32TNS_20240305_2_L2A", baseline: "04.00"),
        ])
        #expect(kept.map(\.id) == ["S2A_32TNS_20240305_1_L2A"])
        #expect(Set(dropped.map(\.id)) == ["S2A_32TNS_20240305_0_L2A", "S2A_32TNS_20240305_2_L2A"])
        #expect(dropped.allSatisfy { $0.reason.contains("S2A_32TNS_20240305_1_L2A") })
    }

    @Test func baselineComparesNumericallyPartByPart() {
        #expect(SceneDedup.baselineKey("05.10").lexicographicallyPrecedes(SceneDedup.baselineKey("05.9")) == false)
        #expect(SceneDedup.baselineKey("5.9").lexicographicallyPrecedes(SceneDedup.baselineKey("05.10")))
        #expect(SceneDedup.baselineKey(nil).lexicographicallyPrecedes(SceneDedup.baselineKey("00.01")))
    }

    @Test func thenLatestUpdatedThenLargestID() throws {
        let byUpdate = SceneDedup.dedup([
            try item("b", updated: "2024-03-06T00:00:00Z"),
            try item("a", updated: "2024-03-07T00:00:00Z"),
        ])
        #expect(byUpdate.kept.map(\.id) == ["a"])
        let byID = SceneDedup.dedup([try item("a"), try item("c"), try item("b")])
        #expect(byID.kept.map(\.id) == ["c"])
        #expect(byID.dropped.count == 2)
    }

    @Test func differentTilesOrTimesAreNotDuplicates() throws {
        let (kept, dropped) = SceneDedup.dedup([
            try item("x1"),
            try item("x2", tile: (32, "T", "NT")),
            try item("x3", datetime: "2024-03-05T12:07:00Z"),  // same tile, a later orbit the same day
        ])
        #expect(kept.count == 3)
        #expect(dropped.isEmpty)
    }

    @Test func subSecondDifferencesStillMatch() throws {
        let (kept, _) = SceneDedup.dedup([
            try item("r0", baseline: "05.00", datetime: "2024-03-05T10:27:43.588Z"),
            try item("r1", baseline: "05.10", datetime: "2024-03-05T10:27:43.024Z"),
        ])
        #expect(kept.map(\.id) == ["r1"])
    }
}
