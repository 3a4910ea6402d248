import Testing
@testable import Composite

@Suite struct MedoidTests {
    /// The rule written the obvious way: for each valid observation (time order) the float64
    /// sum over the others of the Euclidean distance; the first least sum wins.
    static func naive(_ obs: [TestObservation], times: [ObservationTime], pixel p: Int, bands: Int)
        -> (values: [UInt16], day: Int32)? {
        let order = obs.indices.sorted { times[$0].rank < times[$1].rank }.filter { obs[$0].valid[p] != 0 }
        guard !order.isEmpty else { return nil }
        var best = order[0], bestSum = Double.infinity
        for i in order {
            var sum = 0.0
            for j in order {
                let d2 = (0..<bands).reduce(0) { acc, b in
                    let v = Int(obs[i].bands[b][p]) - Int(obs[j].bands[b][p])
                    return acc + v * v
                }
                sum += Double(d2).squareRoot()
            }
            if sum < bestSum { best = i; bestSum = sum }
        }
        return ((0..<bands).map { obs[best].bands[$0][p] }, times[best].day)
    }

    func observations(_ values: [[UInt16]]) -> [TestObservation] {
        values.map { v in TestObservation(bands: v.map { [$0] }, valid: [1]) }
    }

    @Test func handWorked() throws {
        // Three close points and one far (a missed cloud): sums 5247.6, 5108.7, 5225.0 and
        // 14404.1, so observation 1 — not the per-band median (1150, 2950), which no day saw.
        let obs = observations([[1000, 3000], [1200, 2900], [1100, 3100], [5000, 200]])
        let times = (0..<4).map { ObservationTime(day: Int32(19_800 + 5 * $0), rank: $0) }
        let r = try reduced(obs, pixelCount: 1, bandCount: 2, statistics: ["medoid", "median"], times: times)
        #expect(r.values["b0_medoid"] == [1200] && r.values["b1_medoid"] == [2900])
        #expect(r.values["b0_median"] == [1150] && r.values["b1_median"] == [2950])
        #expect(r.integers["medoid_time"] == [19_805])
        #expect(r.count == [4])
    }

    @Test func tiesGoToTheEarliestObservation() throws {
        // Two observations: both sums are the one distance. The earlier in time wins, whatever
        // order they are stored in.
        let obs = observations([[2000, 2000], [1000, 1000]])
        let times = [ObservationTime(day: 19_900, rank: 1), ObservationTime(day: 19_890, rank: 0)]
        let r = try reduced(obs, pixelCount: 1, bandCount: 2, statistics: ["medoid"], times: times)
        #expect(r.values["b0"] == [1000] && r.integers["medoid_time"] == [19_890])
        // A symmetric triple: the outer two tie, the middle one wins.
        let triple = observations([[10], [30], [20]])
        let t3 = (0..<3).map { ObservationTime(day: Int32($0), rank: $0) }
        #expect(try reduced(triple, pixelCount: 1, bandCount: 1, statistics: ["medoid"], times: t3).values["b0"] == [20])
        // Four corners of a square: all tie, the first in time.
        let square = observations([[30, 10], [10, 10], [10, 30], [30, 30]])
        let t4 = [2, 0, 3, 1].map { ObservationTime(day: Int32(100 + $0), rank: $0) }
        let s = try reduced(square, pixelCount: 1, bandCount: 2, statistics: ["medoid"], times: t4)
        #expect(s.values["b0"] == [10] && s.values["b1"] == [10] && s.integers["medoid_time"] == [100])
    }

    @Test func noObservationIsZeroAndFill() throws {
        let obs = [TestObservation(bands: [[0, 500], [0, 700]], valid: [0, 1])]
        let r = try reduced(obs, pixelCount: 2, bandCount: 2, statistics: ["median", "medoid"],
                            times: [ObservationTime(day: 20_000, rank: 0)])
        #expect(r.values["b0_medoid"] == [0, 500] && r.values["b1_medoid"] == [0, 700])
        #expect(r.integers["medoid_time"] == [OutputType.int32Fill, 20_000])
    }

    /// Random windows, stored in a shuffled order with their times: every pixel as the naive
    /// rule says, and exactly one observation's values (the band vector of one day).
    @Test(arguments: [1, 2, 5, 13])
    func matchesNaiveCode(n: Int) throws {
        var rng = SplitMix64(seed: UInt64(40 + n))
        let pixels = 203, bands = 3
        let obs = randomObservations(count: n, pixelCount: pixels, bandCount: bands, coherent: true, rng: &rng)
        let times = (0..<n).map { ObservationTime(day: Int32(19_700 + 2 * $0), rank: $0) }
        let permutation = Array(0..<n).shuffled(using: &rng)
        let r = try reduced(permutation.map { obs[$0] }, pixelCount: pixels, bandCount: bands,
                            statistics: ["medoid", "median"], threads: 2, times: permutation.map { times[$0] })
        for p in 0..<pixels {
            let got = (0..<bands).map { r.values["b\($0)_medoid"]![p] }
            if let want = Self.naive(obs, times: times, pixel: p, bands: bands) {
                #expect(got == want.values && r.integers["medoid_time"]![p] == want.day, "pixel \(p)")
            } else {
                #expect(got == [0, 0, 0] && r.integers["medoid_time"]![p] == OutputType.int32Fill)
            }
        }
    }

    @Test func declaresItsArrays() throws {
        let one = try CompositeRecipe(statistics: ["medoid"], bands: ["red", "nir"])
        #expect(one.outputs.map(\.name) == ["red", "nir", "medoid_time"])
        #expect(one.outputs.map(\.type) == [.uint16, .uint16, .int32])
        #expect(one.outputs.last!.units == "days since 1970-01-01")
        let several = try CompositeRecipe(statistics: ["median", "medoid"], bands: ["red"])
        #expect(several.outputs.map(\.name) == ["red_median", "red_medoid", "medoid_time"])
        #expect(several.outputBytes(pixelCount: 10) == 2 * 20 + 40)
    }
}
