import CubeGrid
import CubeJobs
import CubePlan
import Foundation

/// `--time` and `--bbox`: the part of the plan a run covers.
public enum JobSelection {
    /// Jobs of `plan` in the given time bins and touching the lon/lat box, in plan order.
    /// `time` items are bin labels ("2024-03") or inclusive ranges ("2024-03..2024-06").
    public static func select(_ plan: Plan, time: [String], bbox: [Double]?) throws -> [JobID] {
        let bins = Set(try Self.bins(plan, time: time))
        var chunks = Set(plan.landChunks.map { ChunkRef(cy: $0.cy, cx: $0.cx) })
        if let bbox {
            guard bbox.count == 4, bbox[0] < bbox[2], bbox[1] < bbox[3] else {
                throw JobError("--bbox must be WEST,SOUTH,EAST,NORTH in degrees with west < east and south < north")
            }
            let transform = plan.grid.crs.isGeographic && plan.grid.crs.epsg == 4326 ? nil : try plan.grid.crs.transform(to: .lonLat)
            chunks = chunks.filter { c in
                guard let f = try? plan.grid.lonLatFootprint(plan.grid.chunkWindow(cy: c.cy, cx: c.cx), densify: 4, transform: transform)
                else { return true }
                return f.west < bbox[2] && f.east > bbox[0] && f.south < bbox[3] && f.north > bbox[1]
            }
        }
        return JobID.all(in: plan).filter { bins.contains($0.bin) && chunks.contains(ChunkRef(cy: $0.cy, cx: $0.cx)) }
    }

    /// The bin indices `time` names (every bin when it is empty), sorted.
    public static func bins(_ plan: Plan, time: [String]) throws -> [Int] {
        guard !time.isEmpty else { return Array(plan.bins.indices) }
        var bins = Set<Int>()
        let labels = plan.bins.map(\.label)
        for item in time.flatMap({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) {
            if let range = item.range(of: "..") {
                let lo = String(item[..<range.lowerBound]), hi = String(item[range.upperBound...])
                let hit = labels.indices.filter { labels[$0] >= lo && labels[$0] <= hi }
                guard !hit.isEmpty else { throw JobError("--time \(item): no time bin in that range (\(labels.first ?? "")..\(labels.last ?? ""))") }
                bins.formUnion(hit)
            } else {
                guard let i = labels.firstIndex(of: item) else {
                    throw JobError("--time \(item): no such time bin (bins are \(labels.first ?? "")..\(labels.last ?? ""))")
                }
                bins.insert(i)
            }
        }
        return bins.sorted()
    }

    private struct ChunkRef: Hashable {
        let cy: Int, cx: Int
    }
}
