import Foundation
import StacItems

/// Keeps one copy of each reprocessed scene. Copies share the tile key and the acquisition
/// time (within `timeTolerance`, to absorb rounding between processing runs); the winner has
/// the highest `s2:processing_baseline`, then the latest `updated`, then the largest id.
public enum SceneDedup {
    public static func dedup(_ items: [StacItem], timeTolerance: TimeInterval = 1) -> (kept: [StacItem], dropped: [SkippedItem]) {
        var byTile: [String: [StacItem]] = [:]
        for item in items { byTile[item.tileKey, default: []].append(item) }

        var kept: [StacItem] = []
        var dropped: [SkippedItem] = []
        for tile in byTile.keys.sorted() {
            let sorted = (byTile[tile] ?? []).sorted { ($0.datetime, $0.id) < ($1.datetime, $1.id) }
            var start = 0
            while start < sorted.count {
                var end = start + 1
                while end < sorted.count, sorted[end].datetime.timeIntervalSince(sorted[start].datetime) <= timeTolerance {
                    end += 1
                }
                var best = start
                for i in (start + 1)..<end where preferred(sorted[i], over: sorted[best]) { best = i }
                let winner = sorted[best]
                kept.append(winner)
                for i in start..<end where i != best {
                    let loser = sorted[i]
                    dropped.append(SkippedItem(id: loser.id, reason: "reprocessed duplicate of \(winner.id) (tile \(tile), "
                        + "baseline \(loser.processingBaseline ?? "none") vs \(winner.processingBaseline ?? "none"))"))
                }
                start = end
            }
        }
        kept.sort { ($0.datetime, $0.id) < ($1.datetime, $1.id) }
        return (kept, dropped)
    }

    /// Whether `a` beats `b`.
    static func preferred(_ a: StacItem, over b: StacItem) -> Bool {
        let ba = baselineKey(a.processingBaseline), bb = baselineKey(b.processingBaseline)
        if ba != bb { return bb.lexicographicallyPrecedes(ba) }
        let ua = a.updated ?? .distantPast, ub = b.updated ?? .distantPast
        if ua != ub { return ua > ub }
        return a.id > b.id
    }

    /// `05.10` → [5, 10]; compared part by part so 05.10 > 05.09 > 04.00. Missing sorts lowest.
    static func baselineKey(_ text: String?) -> [Int] {
        guard let text else { return [-1] }
        let parts = text.split(separator: ".").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return [-1] }
        return parts.compactMap { $0 }
    }
}
