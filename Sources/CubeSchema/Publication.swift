import CubeCore
import CubeGrid
import CubeSpec
import CubeStore
import Foundation
import JSON
import Zarr

/// What readers see of a cube: the first `bins` time bins (the arrays' time length, the time
/// coordinate, the STAC items), and which of those are complete. Kept at
/// `_cube/publication.json`, written after the metadata it describes.
///
/// `cube init` publishes every bin of its spec (the whole schema, fill values until built).
/// Bins added later (a spec with a later `time.end`) are built outside the published shape and
/// published when they and every bin before them are complete, so an append never shows a
/// half-built step: chunks first, then the array metadata, the time coordinate last, then the
/// root attributes and the consolidated metadata in one put.
public struct Publication: Codable, Equatable, Sendable {
    public static let key = StoreKeys.publication
    public var bins: Int
    /// One flag per published bin: every land job of the bin is done (and its pyramid built).
    public var complete: [Bool]

    public init(bins: Int, complete: [Bool]) {
        self.bins = bins
        self.complete = complete
    }

    /// The store's publication; a cube from before cubes could grow publishes every bin.
    public static func read(_ store: any Store, binCount: Int) throws -> Publication {
        guard let data = try store.get(key) else {
            return Publication(bins: binCount, complete: Array(repeating: false, count: binCount))
        }
        return try JSONDecoder().decode(Publication.self, from: data)
    }

    /// What readers of the store see: the root group's `cube:bins_complete`, which the last
    /// publication wrote together with the consolidated metadata (so a version of an Icechunk
    /// store answers for itself); the publication record when the root has none.
    public static func readVisible(_ store: any Store, binCount: Int) throws -> Publication {
        if let data = try store.get("zarr.json"),
           let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let flags = (root["attributes"] as? [String: Any])?["cube:bins_complete"] as? [Bool] {
            return Publication(bins: flags.count, complete: flags)
        }
        return try read(store, binCount: binCount)
    }

    func write(_ store: any Store) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try store.put(Self.key, enc.encode(self))
    }
}

/// What `CubeSchema.publish` did.
public struct PublishOutcome: Equatable, Sendable {
    /// Bins readers saw before and see now.
    public var before: Int
    public var after: Int
    /// Complete bins among them, before and now.
    public var completeBefore: Int
    public var completeAfter: Int
    public var changed: Bool { before != after || completeBefore != completeAfter }
}

extension CubeSchema {
    /// Moves what readers see on: the published time length grows over every complete bin
    /// that follows the published ones (never over an incomplete one), and the completeness
    /// flags (`cube:bins_complete`, `cube:complete`) follow `complete` (bin indices whose jobs
    /// are all done). Idempotent: a crash midway is repaired by the next call. `notes`: what an
    /// update changed per bin, for the bins' STAC items.
    @discardableResult
    public static func publish(spec: CubeSpec, layout: CubeLayout, store: any Store, complete: Set<Int>,
                               notes: [Int: JSONValue] = [:]) throws -> PublishOutcome {
        let plan = layout.plan
        let old = try Publication.read(store, binCount: plan.bins.count)
        var n = min(old.bins, plan.bins.count)
        while n < plan.bins.count && complete.contains(n) { n += 1 }
        let flags = (0..<n).map { complete.contains($0) }
        let allDone = n == plan.bins.count && flags.allSatisfy { $0 }
        let zarr = ZarrHierarchy(store: store, format: layout.format)
        var attributes = try zarr.readGroupAttributes()
        let wanted: [String: JSONValue] = [
            "cube:complete": .bool(allDone),
            "cube:bins_complete": .array(flags.map { .bool($0) }),
            "cube:spec": .string(spec.sourceText),
            "cube:jobs": .int(Int64(plan.jobCount)),
        ]
        let outcome = PublishOutcome(before: old.bins, after: n, completeBefore: old.complete.filter { $0 }.count,
                                     completeAfter: flags.filter { $0 }.count)
        let attributesCurrent = wanted.allSatisfy { attributes[$0.key] == $0.value }
        if n == old.bins && flags == old.complete && attributesCurrent && notes.isEmpty { return outcome }

        if n != old.bins {
            let added = Array(plan.bins[min(old.bins, n)..<n])
            for level in layout.levels {
                try writeTimeChunks(level: level.level, bins: added, layout: layout, zarr: zarr)
                try writeDataMetadata(level: level.level, spec: spec, layout: layout, zarr: zarr, published: n)
                // The coordinate last: a reader of one array at a time sees a data array grow
                // over complete chunks before the axis names the new step.
                try writeTimeMetadata(level: level.level, layout: layout, zarr: zarr, published: n)
            }
        }
        let newItems = Array(plan.bins[min(old.bins, n)..<n]) + notes.keys.sorted().filter { $0 < min(old.bins, n) }.map { plan.bins[$0] }
        try StacDescription.write(spec: spec, layout: layout, store: store, published: n, items: newItems, notes: notes)
        for (key, value) in wanted { attributes[key] = value }
        try zarr.consolidate(rootAttributes: attributes)
        try Publication(bins: n, complete: flags).write(store)
        return outcome
    }

    /// The root attribute `cube:complete`.
    public static func isComplete(store: any Store, layout: CubeLayout) throws -> Bool {
        try ZarrHierarchy(store: store, format: layout.format).readGroupAttributes()["cube:complete"] == .bool(true)
    }
}
