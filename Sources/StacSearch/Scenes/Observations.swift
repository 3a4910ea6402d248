import CubeCore
import Foundation
import StacItems

/// All scenes of one solar day over the query area, in (datetime, id) order. The composite
/// stage fuses them into one observation, as odc-stac's `groupby="solar_day"` does.
public struct Observation: Sendable, Equatable {
    /// Days since 1970-01-01 on the solar clock of the scenes' centroids.
    public var solarDayIndex: Int
    /// The scenes' collection (one sensor): scenes of different collections are never fused.
    public var collection: String?
    /// `YYYY-MM-DD`.
    public var solarDay: String { RFC3339.dateString(daysSinceEpoch: solarDayIndex) }
    public var scenes: [StacItem]
}

public enum SolarDayGrouping {
    /// Footprint filter (when given) → dedup of reprocessed scenes → solar-day groups sorted by day.
    public static func observations(from items: [StacItem], footprint: LonLatFootprint?)
        -> (observations: [Observation], dropped: [SkippedItem]) {
        var dropped: [SkippedItem] = []
        var inArea: [StacItem] = []
        for item in items {
            if let footprint, !item.footprint.intersects(footprint) {
                dropped.append(SkippedItem(id: item.id, reason: "footprint misses the query area"))
            } else {
                inArea.append(item)
            }
        }
        let (unique, duplicates) = SceneDedup.dedup(inArea)
        dropped += duplicates
        return (groupBySolarDay(unique), dropped)
    }

    /// Solar date = UTC datetime + centroid longitude / 15 hours; one observation per date and
    /// collection (two sensors over the same day are two observations), by day, then collection.
    public static func groupBySolarDay(_ items: [StacItem]) -> [Observation] {
        struct Key: Hashable, Comparable {
            let day: Int
            let collection: String
            static func < (a: Key, b: Key) -> Bool { (a.day, a.collection) < (b.day, b.collection) }
        }
        var groups: [Key: [StacItem]] = [:]
        for item in items { groups[Key(day: item.solarDay, collection: item.collection ?? ""), default: []].append(item) }
        return groups.keys.sorted().map { key in
            let scenes = (groups[key] ?? []).sorted { ($0.datetime, $0.id) < ($1.datetime, $1.id) }
            return Observation(solarDayIndex: key.day, collection: scenes.first?.collection, scenes: scenes)
        }
    }
}
