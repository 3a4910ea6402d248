import CubeCore
import Foundation
import StacItems

/// The client-side filters every item goes through, whatever its source (API or file), so a
/// server that ignores part of the query cannot widen the result.
public struct ItemFilter: Sendable {
    /// Items of other collections are dropped; empty keeps every collection.
    public var collections: [String]
    /// Half-open: start <= datetime < end.
    public var interval: DateInterval
    public var footprint: LonLatFootprint?
    /// Items above it, or without `eo:cloud_cover`, are dropped.
    public var maxCloudCover: Double?

    public init(collections: [String], interval: DateInterval, footprint: LonLatFootprint?, maxCloudCover: Double?) {
        self.collections = collections
        self.interval = interval
        self.footprint = footprint
        self.maxCloudCover = maxCloudCover
    }

    /// Why the item is filtered out, or nil to keep it.
    public func rejection(_ item: StacItem) -> ItemProblem? {
        if !collections.isEmpty, let own = item.collection, !collections.contains(own) {
            return .filtered("collection \(own) is not \(collections.joined(separator: " or "))")
        }
        if item.datetime < interval.start || item.datetime >= interval.end {
            return .filtered("datetime \(RFC3339.format(item.datetime)) is outside [\(RFC3339.format(interval.start)), \(RFC3339.format(interval.end)))")
        }
        if let maxCloudCover {
            guard let cc = item.cloudCover else { return .filtered("no eo:cloud_cover while max_cloud_cover is set") }
            if cc > maxCloudCover { return .filtered("eo:cloud_cover \(cc) > max_cloud_cover \(maxCloudCover)") }
        }
        if let footprint, !item.footprint.intersects(footprint) {
            return .filtered("footprint misses the query area")
        }
        return nil
    }

    /// True when the item lies outside the query's time interval or footprint.
    public func isOutsideQuery(_ item: StacItem) -> Bool {
        if item.datetime < interval.start || item.datetime >= interval.end { return true }
        if let footprint, !item.footprint.intersects(footprint) { return true }
        return false
    }

    public func apply(_ items: [StacItem]) -> (kept: [StacItem], rejected: [SkippedItem]) {
        var kept: [StacItem] = []
        var rejected: [SkippedItem] = []
        for item in items {
            if let why = rejection(item) {
                rejected.append(SkippedItem(id: item.id, reason: why.description))
            } else {
                kept.append(item)
            }
        }
        return (kept, rejected)
    }
}
