import CubeJobs
import Foundation
import JSON
import StacItems
import StacSearch

/// The scenes of one job, computed from the features a worker reads (an index block or a live
/// search) exactly as the worker groups them: query filter, footprint, dedup of reprocessed
/// copies, solar days. The worker records them in its done record; `cube update` computes them
/// again from the catalog of the day and compares.
public enum JobScenes {
    /// The observations of a job from features already at hand (an index block).
    public static func observations(features: [JSONValue], policy: HrefPolicy, collections: [String],
                                    query: SearchQuery) -> (result: SearchResult, observations: [Observation]) {
        let result = StacSearcher.select(features: features, hrefPolicy: policy, collections: collections, query: query)
        let observations = SolarDayGrouping.observations(from: result.items, footprint: query.footprint).observations
        return (result, observations)
    }

    /// What the done record lists: each scene of the observations, in observation order, with
    /// the version of each asset the cube reads (`assetKeys`).
    public static func provenance(_ observations: [Observation], result: SearchResult,
                                  assetKeys: [String]) -> [SceneProvenance] {
        var features: [String: JSONValue] = [:]
        for (item, feature) in zip(result.items, result.features) { features[item.id] = feature }
        return observations.flatMap(\.scenes).map { item in
            let feature = features[item.id]
            let properties = feature?["properties"]
            var assets: [String: String?] = [:]
            for key in assetKeys where item.assets[key] != nil {
                assets[key] = version(feature?["assets"]?[key])
            }
            return SceneProvenance(
                id: item.id,
                datetime: properties?["datetime"]?.stringValue ?? RFC3339.format(item.datetime),
                updated: properties?["updated"]?.stringValue,
                tile: item.tileKey.hasPrefix("id:") ? nil : item.tileKey,
                assets: assets)
        }
    }

    /// An asset's object version: the catalog's checksum, else the ETag the index read, else
    /// the size, else nil (nothing known beyond the href and the item's `updated`).
    static func version(_ asset: JSONValue?) -> String? {
        guard let asset else { return nil }
        if let sum = asset["file:checksum"]?.stringValue, !sum.isEmpty { return "checksum:\(sum)" }
        if let etag = asset[IndexFormat.etagField]?.stringValue, !etag.isEmpty { return "etag:\(etag)" }
        if let size = asset[IndexFormat.sizeField]?.intValue { return "size:\(size)" }
        return nil
    }
}
