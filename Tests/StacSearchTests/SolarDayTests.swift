import Foundation
import StacItems
import Testing
@testable import StacSearch

@Suite struct SolarDayTests {
    func item(_ id: String, _ datetime: String, lon: Double, tile: (Int, String, String) = (32, "T", "NS")) throws -> StacItem {
        // The fixture square spans [lon, lon + 1], so its centroid is lon + 0.5.
        try ItemFixtures.item(ItemFixtures.earthSearchItem(id: id, datetime: datetime, lon: lon - 0.5, tile: tile))
    }

    @Test func lateUTCEastOfGreenwichIsTheNextSolarDay() throws {
        // 23:30 UTC at lon 12 → 00:18 local solar time on the 6th.
        let scene = try item("east", "2024-03-05T23:30:00Z", lon: 12)
        #expect(RFC3339.dateString(daysSinceEpoch: scene.solarDay) == "2024-03-06")
        // 00:30 UTC at lon -12 → 23:42 on the 4th.
        let west = try item("west", "2024-03-05T00:30:00Z", lon: -12)
        #expect(RFC3339.dateString(daysSinceEpoch: west.solarDay) == "2024-03-04")
        // 10:30 UTC at lon 12 stays on the 5th.
        #expect(RFC3339.dateString(daysSinceEpoch: try item("noon", "2024-03-05T10:30:00Z", lon: 12).solarDay) == "2024-03-05")
    }

    @Test func groupsAndOrdersScenes() throws {
        let a = try item("a", "2024-03-05T10:30:05Z", lon: 9, tile: (32, "T", "NS"))
        let b = try item("b", "2024-03-05T10:30:00Z", lon: 10, tile: (32, "T", "NT"))
        let c = try item("c", "2024-03-05T10:30:00Z", lon: 10, tile: (32, "T", "MS"))
        let late = try item("late", "2024-03-05T23:30:00Z", lon: 12, tile: (33, "T", "UL"))
        let early = try item("early", "2024-03-02T10:00:00Z", lon: 9, tile: (32, "T", "NS"))
        let obs = SolarDayGrouping.groupBySolarDay([late, a, b, early, c])
        #expect(obs.map(\.solarDay) == ["2024-03-02", "2024-03-05", "2024-03-06"])
        #expect(obs[1].scenes.map(\.id) == ["b", "c", "a"])  // by (datetime, id)
        #expect(obs[2].scenes.map(\.id) == ["late"])
    }

    @Test func observationsPipelineDedupsBeforeGrouping() throws {
        let old = try ItemFixtures.item(ItemFixtures.earthSearchItem(id: "S2A_32TNS_20240305_0_L2A", baseline: "05.09"))
        let new = try ItemFixtures.item(ItemFixtures.earthSearchItem(id: "S2A_32TNS_20240305_1_L2A", baseline: "05.10"))
        let (obs, dropped) = SolarDayGrouping.observations(from: [old, new], footprint: nil)
        #expect(obs.count == 1)
        #expect(obs.first?.scenes.map(\.id) == ["S2A_32TNS_20240305_1_L2A"])
        #expect(dropped.map(\.id) == ["S2A_32TNS_20240305_0_L2A"])
    }
}
