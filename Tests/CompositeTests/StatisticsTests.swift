import Foundation
import Testing
@testable import Composite

/// The order statistics and the mean, written the obvious way on the sorted valid values.
enum Naive {
    static func percentile(_ values: [UInt16], _ q: Int) -> UInt16 {
        if values.isEmpty { return 0 }
        let v = values.sorted().map(Int.init)
        // h = (k-1)·q/100 as an exact fraction; value = v[i] + frac·(v[i+1] − v[i]), rounded half up.
        let num = (v.count - 1) * q
        let i = num / 100, f = num % 100
        let exact100 = v[i] * 100 + (f == 0 ? 0 : f * (v[i + 1] - v[i]))
        return UInt16((exact100 + 50) / 100)
    }

    static func mean(_ values: [UInt16]) -> UInt16 {
        if values.isEmpty { return 0 }
        let sum = values.reduce(0) { $0 + Int($1) }
        // Half up: floor(sum / k + 1/2).
        return UInt16((Double(sum) / Double(values.count) + 0.5).rounded(.down))
    }

    static func value(_ name: String, _ values: [UInt16]) -> UInt16 {
        switch name {
        case "median": return naiveMedian(values)
        case "mean": return mean(values)
        case "min": return values.min() ?? 0
        case "max": return values.max() ?? 0
        default: return percentile(values, Int(name.dropFirst())!)
        }
    }
}

func reduced(_ observations: [TestObservation], pixelCount: Int, bandCount: Int, statistics: [String],
             threads: Int = 1, times: [ObservationTime]? = nil) throws -> CompositeArrays {
    let recipe = try CompositeRecipe(statistics: statistics, bands: (0..<bandCount).map { "b\($0)" })
    return try reduced(observations, pixelCount: pixelCount, recipe: recipe, threads: threads, times: times)
}

/// `times`: each observation's acquisition time (nil: day 0, in the order given).
func reduced(_ observations: [TestObservation], pixelCount: Int, recipe: CompositeRecipe,
             threads: Int = 1, times: [ObservationTime]? = nil) throws -> CompositeArrays {
    let reducer = try CompositeReducer(pixelCount: pixelCount, bandCount: recipe.bands.count,
                                       maxObservations: observations.count, recipe: recipe)
    for (i, o) in observations.enumerated() {
        try withBufferPointers(o.bands) { bands in
            try o.valid.withUnsafeBufferPointer { _ = try reducer.add(bands: bands, valid: $0, time: times?[i]) }
        }
    }
    return reducer.finishArrays(threads: threads)
}

@Suite struct OrderStatisticTests {
    static let names = ["median", "mean", "min", "max", "p0", "p1", "p10", "p25", "p33", "p50", "p67", "p90", "p99", "p100"]

    @Test(arguments: [1, 2, 3, 5, 8, 17, 40])
    func everyStatisticMatchesNaiveCode(n: Int) throws {
        for seed in 0..<6 {
            var rng = SplitMix64(seed: UInt64(seed * 100 + n))
            let pixels = Int.random(in: 1...70, using: &rng), bands = Int.random(in: 1...3, using: &rng)
            let obs = randomObservations(count: n, pixelCount: pixels, bandCount: bands, coherent: seed % 2 == 0, rng: &rng)
            let result = try reduced(obs, pixelCount: pixels, bandCount: bands, statistics: Self.names, threads: 1 + seed % 3)
            for p in 0..<pixels {
                let valid = obs.filter { $0.valid[p] != 0 }
                #expect(result.count[p] == UInt16(valid.count))
                for b in 0..<bands {
                    let values = valid.map { $0.bands[b][p] }
                    for name in Self.names {
                        #expect(result.values["b\(b)_\(name)"]![p] == Naive.value(name, values),
                                "\(name) seed \(seed) n \(n) pixel \(p) values \(values)")
                    }
                }
            }
        }
    }

    @Test func edgeCases() throws {
        // Pixels: k = 0; k = 1; k = 2 (half-up rounding); ties; the top of the range; three values.
        let obs = [
            TestObservation(bands: [[0, 7, 1, 5, 65535, 10]], valid: [0, 1, 1, 1, 1, 1]),
            TestObservation(bands: [[0, 0, 2, 5, 65535, 20]], valid: [0, 0, 1, 1, 1, 1]),
            TestObservation(bands: [[0, 0, 0, 5, 65534, 40]], valid: [0, 0, 0, 1, 1, 1]),
        ]
        let r = try reduced(obs, pixelCount: 6, bandCount: 1, statistics: ["median", "mean", "min", "max", "p10", "p90", "p50"])
        #expect(r.values["b0_median"] == [0, 7, 2, 5, 65535, 20])
        #expect(r.values["b0_p50"] == r.values["b0_median"])
        #expect(r.values["b0_mean"] == [0, 7, 2, 5, 65535, 23])  // 70/3 = 23.33; (1+2)/2 = 1.5 → 2
        #expect(r.values["b0_min"] == [0, 7, 1, 5, 65534, 10])
        #expect(r.values["b0_max"] == [0, 7, 2, 5, 65535, 40])
        // p10 of [10, 20, 40]: h = 0.2 → 10 + 0.2·10 = 12; p90: h = 1.8 → 20 + 0.8·20 = 36.
        #expect(r.values["b0_p10"] == [0, 7, 1, 5, 65534, 12])
        #expect(r.values["b0_p90"] == [0, 7, 2, 5, 65535, 36])
        #expect(r.count == [0, 1, 2, 3, 3, 3])
    }

    @Test func p50IsTheMedianBitForBit() throws {
        var rng = SplitMix64(seed: 7)
        let obs = randomObservations(count: 30, pixelCount: 500, bandCount: 2, rng: &rng)
        let r = try reduced(obs, pixelCount: 500, bandCount: 2, statistics: ["median", "p50"])
        #expect(r.values["b0_median"] == r.values["b0_p50"])
        #expect(r.values["b1_median"] == r.values["b1_p50"])
        // And the default recipe gives the same planes under today's names.
        let plain = try reduced(obs, pixelCount: 500, bandCount: 2, statistics: ["median"])
        #expect(plain.values["b0"] == r.values["b0_median"])
    }

    @Test func statisticsAreNamedAndTyped() throws {
        #expect(try Statistics.parse("P007").name == "p7")
        #expect(throws: StatisticError.unknown("p101")) { try Statistics.parse("p101") }
        #expect(throws: StatisticError.unknown("p")) { try Statistics.parse("p") }
        #expect(throws: StatisticError.repeated("p5")) { try CompositeRecipe(statistics: ["p5", "p05"], bands: ["a"]) }
        let recipe = try CompositeRecipe(statistics: ["p10", "geomedian"], bands: ["red", "nir"])
        #expect(recipe.outputs.map(\.name) == ["red_p10", "nir_p10", "red_geomedian", "nir_geomedian", "smad", "emad", "bcmad"])
        #expect(recipe.outputs.first!.longName == "red surface reflectance, 10th percentile of valid observations")
        #expect(recipe.outputBytes(pixelCount: 10) == 4 * 20 + 3 * 40)
        #expect(Percentile(1).longName == "1st percentile" && Percentile(11).longName == "11th percentile"
                && Percentile(22).longName == "22nd percentile" && Percentile(100).longName == "100th percentile")
    }
}

@Suite struct GeomedianTests {
    /// Sum of Euclidean distances from y to the points: what the geometric median minimises.
    static func cost(_ y: [Double], _ points: [[Double]]) -> Double {
        var total = 0.0
        for x in points {
            var d2 = 0.0
            for (a, b) in zip(x, y) { d2 += (a - b) * (a - b) }
            total += d2.squareRoot()
        }
        return total
    }

    func geomedian(_ observations: [[UInt16]], pixels: Int = 1) throws -> CompositeArrays {
        let bands = observations[0].count
        let obs = observations.map { o in
            TestObservation(bands: o.map { v in [UInt16](repeating: v, count: pixels) }, valid: [UInt8](repeating: 1, count: pixels))
        }
        return try reduced(obs, pixelCount: pixels, bandCount: bands, statistics: ["geomedian"])
    }

    @Test func oneAndTwoObservations() throws {
        let one = try geomedian([[1234, 2000, 65535]])
        #expect([one.values["b0"]![0], one.values["b1"]![0], one.values["b2"]![0]] == [1234, 2000, 65535])
        #expect(one.reals["emad"] == [0] && one.reals["bcmad"] == [0] && abs(one.reals["smad"]![0]) < 1e-6)
        // Any point of the segment minimises; Weiszfeld from the mean stays at the midpoint.
        let two = try geomedian([[1000, 3000], [2000, 5000]])
        #expect([two.values["b0"]![0], two.values["b1"]![0]] == [1500, 4000])
        // emad: both points at half the segment, sqrt(500² + 1000²) DN.
        #expect(abs(Double(two.reals["emad"]![0]) - (500.0 * 500 + 1000 * 1000).squareRoot()) < 0.05)
    }

    @Test func identicalObservationsAndAnOutlier() throws {
        // Three identical points and one far away: the median is the repeated point.
        let r = try geomedian([[1000, 1000], [1000, 1000], [1000, 1000], [9000, 9000]])
        #expect(r.values["b0"] == [1000] && r.values["b1"] == [1000])
        // emad: median of [0, 0, 0, 8000·√2] = 0, up to the convergence tolerance (1e-7):
        // Weiszfeld approaches a data point from outside.
        #expect(r.reals["emad"]![0] < 0.1)
    }

    @Test func minimisesTheSumOfDistances() throws {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<30 {
            let k = Int.random(in: 3...12, using: &rng), bands = Int.random(in: 2...6, using: &rng)
            let obs = (0..<k).map { _ in (0..<bands).map { _ in UInt16.random(in: 1...9000, using: &rng) } }
            let r = try geomedian(obs)
            let y = (0..<bands).map { Double(r.values["b\($0)"]![0]) / 10000 }
            let points = obs.map { $0.map { Double($0) / 10000 } }
            let c = Self.cost(y, points)
            // No nearby point (±1 DN on any axis) does better than rounding noise allows.
            for b in 0..<bands {
                for d in [-1e-4, 1e-4] {
                    var z = y
                    z[b] += d
                    #expect(Self.cost(z, points) >= c - 2e-4 * Double(k), "k \(k) bands \(bands)")
                }
            }
            // And it beats the per-band median by construction (or ties).
            let medians = (0..<bands).map { b in Double(naiveMedian(obs.map { $0[b] })) / 10000 }
            #expect(c <= Self.cost(medians, points) + 1e-4 * Double(k))
        }
    }

    @Test func madsFollowTheirDefinitions() throws {
        let obs: [[UInt16]] = [[1000, 2000, 3000], [1100, 2100, 2900], [900, 2500, 3100], [1500, 1500, 1500], [1000, 2050, 3000]]
        let r = try geomedian(obs)
        // Recompute from the stored (rounded) median: deviations are within rounding of 0.5 DN.
        let y = (0..<3).map { Double(r.values["b\($0)"]![0]) / 10000 }
        let x = obs.map { $0.map { Double($0) / 10000 } }
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        func bc(_ a: [Double], _ b: [Double]) -> Double {
            let diff: Double = zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) }
            let sum: Double = zip(a, b).reduce(0) { $0 + abs($1.0 + $1.1) }
            return diff / sum
        }
        let emad = median(x.map { p in norm(zip(p, y).map { $0 - $1 }) }) * 10000
        let smad = median(x.map { p in 1 - dot(p, y) / (norm(p) * norm(y)) })
        let bcmad = median(x.map { p in bc(p, y) })
        #expect(abs(Double(r.reals["emad"]![0]) - emad) < 1.0)
        #expect(abs(Double(r.reals["smad"]![0]) - smad) < 2e-4)
        #expect(abs(Double(r.reals["bcmad"]![0]) - bcmad) < 2e-4)
    }

    /// The true geometric median of `points`, in float64: Weiszfeld until it stops moving.
    static func converged(_ points: [[Double]]) -> [Double] {
        let n = points[0].count
        var y = (0..<n).map { b in points.reduce(0) { $0 + $1[b] } / Double(points.count) }
        for _ in 0..<200_000 {
            var t = [Double](repeating: 0, count: n), w = 0.0
            for x in points {
                let d = zip(x, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                guard d > 1e-15 else { return y }   // on a data point: (for these data) the median
                for b in 0..<n { t[b] += x[b] / d }
                w += 1 / d
            }
            let next = t.map { $0 / w }
            let step = zip(next, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            y = next
            if step < 1e-14 { break }
        }
        return y
    }

    /// Pixels whose median lies close to one observation (a cluster and spread points, as a
    /// pixel with a few clear days looks): Weiszfeld's steps shrink there long before it
    /// arrives, so a loose step tolerance stops short. The default (1e-7) lands within ±1 DN of
    /// the float64 minimum on every pixel; odc-algo's 1e-5 (the control) does not.
    @Test func convergesToTheMinimum() throws {
        var rng = SplitMix64(seed: 24)
        let pixels = 400, bands = 4, k = 4
        var obs = (0..<k).map { _ in
            TestObservation(bands: [[UInt16]](repeating: [UInt16](repeating: 0, count: pixels), count: bands),
                            valid: [UInt8](repeating: 1, count: pixels))
        }
        for p in 0..<pixels {
            let base = (0..<bands).map { _ in Int.random(in: 300...4000, using: &rng) }
            for i in 0..<k {
                let spread = i == 0 ? 0 : Int.random(in: 50...1500, using: &rng)
                for b in 0..<bands {
                    obs[i].bands[b][p] = UInt16(max(1, base[b] + Int.random(in: -spread...spread, using: &rng)))
                }
            }
        }
        func offByMoreThanOne(_ r: CompositeArrays) -> Int {
            (0..<pixels).filter { p in
                let truth = Self.converged(obs.map { o in (0..<bands).map { Double(o.bands[$0][p]) / 10000 } })
                return (0..<bands).contains { b in abs(Double(r.values["b\(b)"]![p]) - truth[b] * 10000) > 1.5 }
            }.count
        }
        let recipe = { (g: Geomedian) in try CompositeRecipe(statistics: [g], bands: (0..<bands).map { "b\($0)" }) }
        #expect(offByMoreThanOne(try reduced(obs, pixelCount: pixels, recipe: recipe(Geomedian()))) == 0)
        #expect(offByMoreThanOne(try reduced(obs, pixelCount: pixels, recipe: recipe(Geomedian(epsilon: 1e-5)))) > 0)
    }

    @Test func noObservationIsNaNAndZero() throws {
        let obs = [TestObservation(bands: [[0, 500], [0, 700]], valid: [0, 1])]
        let r = try reduced(obs, pixelCount: 2, bandCount: 2, statistics: ["median", "geomedian"], threads: 2)
        #expect(r.values["b0_geomedian"] == [0, 500] && r.values["b1_geomedian"] == [0, 700])
        #expect(r.reals["smad"]![0].isNaN && r.reals["emad"]![0].isNaN && r.reals["bcmad"]![0].isNaN)
        #expect(r.reals["emad"]![1] == 0)
        #expect(r.values["b0_median"] == [0, 500] && r.count == [0, 1])
    }
}

@Suite struct GeomedianOrderTests {
    /// Read lanes add observations in the order they finish: with their times given, the
    /// result must not depend on that order.
    @Test func resultDoesNotDependOnObservationOrder() throws {
        var rng = SplitMix64(seed: 5)
        let obs = randomObservations(count: 12, pixelCount: 300, bandCount: 4, rng: &rng)
        let times = obs.indices.map { ObservationTime(day: Int32(19_750 + 3 * $0), rank: $0) }
        let a = try reduced(obs, pixelCount: 300, bandCount: 4, statistics: ["geomedian"], times: times)
        let b = try reduced(obs.reversed(), pixelCount: 300, bandCount: 4, statistics: ["geomedian"],
                            times: times.reversed())
        let permutation = Array(obs.indices).shuffled(using: &rng)
        let c = try reduced(permutation.map { obs[$0] }, pixelCount: 300, bandCount: 4, statistics: ["geomedian"],
                            threads: 2, times: permutation.map { times[$0] })
        // Bit for bit (NaN included, which == would never call equal).
        func same(_ x: CompositeArrays, _ y: CompositeArrays) -> Bool {
            x.values == y.values && x.count == y.count
                && x.reals.mapValues { $0.map(\.bitPattern) } == y.reals.mapValues { $0.map(\.bitPattern) }
        }
        #expect(same(a, b))
        #expect(same(a, c))
    }
}
