import CubeSpec
import Foundation

/// One time step of the cube: `[start, end)` in UTC, labelled for job ids and logs.
public struct TimeBin: Equatable, Hashable, Sendable, Codable {
    public let index: Int
    public let start: Date
    public let end: Date
    /// `2024-03` for month steps, `2024-03-15` for day steps.
    public let label: String

    public init(index: Int, start: Date, end: Date, label: String) {
        (self.index, self.start, self.end, self.label) = (index, start, end, label)
    }
}

public enum TimeBins {
    public static let maxBins = 10_000

    static var utc: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }

    /// Bins start at `spec.start`, advance by whole steps, and are made while their start is on
    /// or before `spec.end`; the last bin is a whole step even when it reaches past `end`.
    public static func make(_ spec: TimeSpec) throws -> [TimeBin] {
        let cal = utc
        var bins: [TimeBin] = []
        var k = 0
        while true {
            guard let s = advance(spec.start, by: spec.step, times: k, cal),
                  let e = advance(spec.start, by: spec.step, times: k + 1, cal) else {
                throw SpecError("time.step", "cannot step through the calendar from \(spec.start)")
            }
            if s > spec.end { break }
            bins.append(TimeBin(index: k, start: s, end: e, label: label(s, spec.step)))
            k += 1
            if bins.count > maxBins {
                throw SpecError("time", "gives more than \(maxBins) time bins; use a larger step or a shorter range")
            }
        }
        return bins
    }

    // Stepping k times from the start (not k single steps) keeps month ends stable: Jan 31 + 1
    // month is Feb 29, + 2 months is Mar 31.
    static func advance(_ d: Date, by step: TimeStep, times k: Int, _ cal: Calendar) -> Date? {
        switch step {
        case .months(let n): return cal.date(byAdding: .month, value: n * k, to: d)
        case .days(let n): return cal.date(byAdding: .day, value: n * k, to: d)
        }
    }

    static func label(_ d: Date, _ step: TimeStep) -> String {
        let c = utc.dateComponents([.year, .month, .day], from: d)
        let y = c.year!, m = c.month!, day = c.day!
        switch step {
        case .months: return String(format: "%04d-%02d", y, m)
        case .days: return String(format: "%04d-%02d-%02d", y, m, day)
        }
    }

    /// Days since 1970-01-01 (the CF time coordinate's unit), exact for whole-day bin starts.
    public static func daysSinceEpoch(_ d: Date) -> Double { d.timeIntervalSince1970 / 86_400 }
}
