import Foundation

/// One scene a job was built from, as its done record lists it: what `cube update` compares
/// with the catalog of the day, and what a user reads to know where a chunk's pixels came from.
public struct SceneProvenance: Codable, Equatable, Hashable, Sendable {
    public var id: String
    public var datetime: String
    /// The item's `updated` (a reprocessed or corrected item gets a newer one), if it has one.
    public var updated: String?
    /// "the same scene footprint" key (MGRS tile; reprocessed copies share it and the datetime).
    public var tile: String?
    /// The version of each asset the job read, by asset key: the catalog's `file:checksum`, else
    /// the object's ETag as the index read it, else its size (`size:N`), else nil.
    public var assets: [String: String?]

    public init(id: String, datetime: String, updated: String?, tile: String?, assets: [String: String?]) {
        self.id = id
        self.datetime = datetime
        self.updated = updated
        self.tile = tile
        self.assets = assets
    }
}

/// How a job's scenes differ between the build and the catalog of the day.
public struct SceneChange: Codable, Equatable, Sendable {
    /// Items the job did not have: late arrivals, or a reprocessed copy that now wins the dedup.
    public var added: [String] = []
    /// Items the job had that the catalog no longer gives it (withdrawn, or superseded).
    public var withdrawn: [String] = []
    /// Items with the same id whose `updated` or an asset's object changed.
    public var changed: [String] = []
    /// Pairs (old id → new id) of the same scene (tile and datetime): a reprocessed copy replaced it.
    public var replaced: [String] = []

    public init() {}

    public var isEmpty: Bool { added.isEmpty && withdrawn.isEmpty && changed.isEmpty }

    /// One line: "added A, B; withdrawn C; replaced D → E; changed F".
    public var summary: String {
        var parts: [String] = []
        let pairedOld = Set(replaced.compactMap { $0.components(separatedBy: " → ").first })
        let pairedNew = Set(replaced.compactMap { $0.components(separatedBy: " → ").last })
        let add = added.filter { !pairedNew.contains($0) }, gone = withdrawn.filter { !pairedOld.contains($0) }
        if !add.isEmpty { parts.append("added \(add.joined(separator: ", "))") }
        if !gone.isEmpty { parts.append("withdrawn \(gone.joined(separator: ", "))") }
        if !replaced.isEmpty { parts.append("replaced \(replaced.joined(separator: ", "))") }
        if !changed.isEmpty { parts.append("changed \(changed.joined(separator: ", "))") }
        return parts.joined(separator: "; ")
    }

    /// The difference between the scenes a job was built from and those it would use now.
    public static func between(built: [SceneProvenance], now: [SceneProvenance]) -> SceneChange {
        var change = SceneChange()
        let old = Dictionary(built.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let new = Dictionary(now.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for s in now where old[s.id] == nil { change.added.append(s.id) }
        for s in built where new[s.id] == nil { change.withdrawn.append(s.id) }
        for s in now {
            if let o = old[s.id], o != s { change.changed.append(s.id) }
        }
        // A withdrawn item and an added one of the same tile and datetime: a reprocessed copy.
        var addedBySlot: [String: String] = [:]
        for id in change.added {
            if let s = new[id], let tile = s.tile { addedBySlot["\(tile)|\(s.datetime)"] = id }
        }
        for id in change.withdrawn {
            if let s = old[id], let tile = s.tile, let successor = addedBySlot["\(tile)|\(s.datetime)"] {
                change.replaced.append("\(id) → \(successor)")
            }
        }
        for list in [\SceneChange.added, \.withdrawn, \.changed, \.replaced] { change[keyPath: list].sort() }
        return change
    }
}
