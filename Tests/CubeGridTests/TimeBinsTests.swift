import CubeGrid
import CubeSpec
import Foundation
import Testing

func date(_ s: String) -> Date {
    let f = ISO8601DateFormatter()
    return f.date(from: s.count == 10 ? s + "T00:00:00Z" : s)!
}

@Test func monthlyBinsCoverTheRangeWithWholeMonths() throws {
    let end = date("2024-12-31").addingTimeInterval(86_400 - 0.001)
    let bins = try TimeBins.make(TimeSpec(start: date("2024-01-01"), end: end, step: .months(1)))
    #expect(bins.count == 12)
    #expect(bins.map(\.label) == (1...12).map { String(format: "2024-%02d", $0) })
    #expect(bins[1].start == date("2024-02-01"))
    #expect(bins[1].end == date("2024-03-01"))
    #expect(bins[11].end == date("2025-01-01"))
    for (a, b) in zip(bins, bins.dropFirst()) { #expect(a.end == b.start) }
}

@Test func quarterlyAndDayBins() throws {
    let q = try TimeBins.make(TimeSpec(start: date("2024-01-01"), end: date("2024-07-01"), step: .months(3)))
    #expect(q.map(\.label) == ["2024-01", "2024-04", "2024-07"])
    let d = try TimeBins.make(TimeSpec(start: date("2024-02-25"), end: date("2024-03-05"), step: .days(5)))
    #expect(d.map(\.label) == ["2024-02-25", "2024-03-01"])
    #expect(d[0].end == date("2024-03-01"))  // 2024 is a leap year
}

@Test func monthStepsFromTheMonthEndDoNotDrift() throws {
    let bins = try TimeBins.make(TimeSpec(start: date("2024-01-31"), end: date("2024-04-30"), step: .months(1)))
    #expect(bins.map(\.start) == [date("2024-01-31"), date("2024-02-29"), date("2024-03-31"), date("2024-04-30")])
}

@Test func tooManyBinsIsASpecError() {
    #expect(throws: SpecError.self) {
        try TimeBins.make(TimeSpec(start: date("1900-01-01"), end: date("2199-01-01"), step: .days(1)))
    }
}
