import CubePlan
import Foundation

/// One unit of work: a time bin and a spatial chunk. Written `2024-03/4/7` (bin label / chunk
/// row / chunk column), the form `cube worker --job` takes and logs print.
public struct JobID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let bin: Int
    public let cy: Int
    public let cx: Int

    public init(bin: Int, cy: Int, cx: Int) {
        self.bin = bin
        self.cy = cy
        self.cx = cx
    }

    public static func < (a: JobID, b: JobID) -> Bool { (a.bin, a.cy, a.cx) < (b.bin, b.cy, b.cx) }

    public var description: String { "#\(bin)/\(cy)/\(cx)" }

    public func name(in plan: Plan) -> String { "\(plan.bins[bin].label)/\(cy)/\(cx)" }

    /// Parses `LABEL/ROW/COL`, checking it against the plan (bin exists, chunk is in the grid).
    public static func parse(_ text: String, plan: Plan) throws -> JobID {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let cy = Int(parts[1]), let cx = Int(parts[2]) else {
            throw JobError("job '\(text)' is not of the form TIME/ROW/COL, e.g. \(plan.bins.first?.label ?? "2024-03")/0/0")
        }
        guard let bin = plan.bins.firstIndex(where: { $0.label == parts[0] }) else {
            let labels = plan.bins.map(\.label)
            throw JobError("job '\(text)': no time bin '\(parts[0])' in this cube (\(labels.first ?? "")..\(labels.last ?? ""))")
        }
        guard (0..<plan.grid.chunkRows).contains(cy), (0..<plan.grid.chunkCols).contains(cx) else {
            throw JobError("job '\(text)': chunk (\(cy), \(cx)) is outside the grid of \(plan.grid.chunkRows) x \(plan.grid.chunkCols) chunks")
        }
        return JobID(bin: bin, cy: cy, cx: cx)
    }

    /// Every job of the plan: land chunks in every time bin, bin-major.
    public static func all(in plan: Plan) -> [JobID] {
        let chunks = plan.landChunks
        var jobs: [JobID] = []
        jobs.reserveCapacity(chunks.count * plan.bins.count)
        for b in plan.bins.indices { for c in chunks { jobs.append(JobID(bin: b, cy: c.cy, cx: c.cx)) } }
        return jobs
    }
}

public struct JobError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
