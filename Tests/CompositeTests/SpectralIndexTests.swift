import Testing
@testable import Composite

@Suite struct IndexProgramTests {
    func evaluate(_ text: String, _ values: [[UInt16]]) throws -> [Double] {
        let program = try IndexProgram.compile(text, bands: ["red", "nir", "blue"])
        let n = values[0].count
        let planes = values.map { v in
            let p = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
            p.initialize(from: v, count: n)
            return p
        }
        defer { planes.forEach { $0.deallocate() } }
        let out = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let registers = UnsafeMutablePointer<Double>.allocate(capacity: max(program.depth, 1) * n)
        defer { out.deallocate(); registers.deallocate() }
        program.evaluate(planes: planes.map { UnsafePointer($0) }, count: n, into: out, registers: registers, stride: n)
        return Array(UnsafeBufferPointer(start: out, count: n))
    }

    @Test func precedenceAndAssociativity() throws {
        let v: [[UInt16]] = [[1000, 2000], [3000, 5000], [500, 100]]
        // Reflectance: red 0.1/0.2, nir 0.3/0.5, blue 0.05/0.01.
        let r: [Double] = [0.1, 0.2], n: [Double] = [0.3, 0.5], b: [Double] = [0.05, 0.01]
        func each(_ f: (Double, Double, Double) -> Double) -> [Double] { (0..<2).map { f(r[$0], n[$0], b[$0]) } }
        #expect(try evaluate("(nir - red) / (nir + red)", v) == each { r, n, _ in (n - r) / (n + r) })
        #expect(try evaluate("nir - red - blue", v) == each { r, n, b in (n - r) - b })
        #expect(try evaluate("nir / red / 2", v) == each { r, n, _ in (n / r) / 2 })
        #expect(try evaluate("-red * 2 + -(-nir)", v) == each { r, n, _ in (-r) * 2 + n })
        let evi = each { r, n, b in
            let top: Double = 2.5 * (n - r)
            let bottom: Double = ((n + 6.0 * r) - 7.5 * b) + 1.0
            return top / bottom
        }
        #expect(try evaluate("2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0)", v) == evi)
        #expect(try evaluate("1e-1 + .5 + 2E+1", v) == [20.6, 20.6])
        #expect(try IndexProgram.compile("((nir - red) / (nir + red))", bands: ["red", "nir"]).depth == 3)
    }

    @Test func errorsGiveThePosition() {
        func failure(_ text: String) -> IndexExpressionError? {
            do { _ = try IndexProgram.compile(text, bands: ["red", "nir"]); return nil } catch { return error as? IndexExpressionError }
        }
        #expect(failure("(nir - rde)")?.position == 8)
        #expect(failure("nir +")?.position == 6)
        #expect(failure("nir red")?.position == 5)
        #expect(failure("")?.message.contains("at the end") == true)
        #expect(failure("1.2.3 * nir")?.position == 1)
        #expect(failure("(((nir)")?.message == "expected ')'")
    }
}

@Suite struct SpectralIndexTests {
    /// The rule the obvious way, in Float64 from the observations in time order.
    static func naive(_ values: [Double], _ statistic: String) -> Float {
        guard !values.isEmpty else { return .nan }
        let v = values.sorted(), k = v.count
        switch statistic {
        case "median": return Float(k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2)
        case "mean": return Float(values.reduce(0, +) / Double(k))
        case "min": return Float(v[0])
        case "max": return Float(v[k - 1])
        default:
            let q = Int(statistic.dropFirst())!
            let h = Double((k - 1) * q) / 100, i = Int(h.rounded(.down)), f = h - Double(i)
            return Float(f == 0 ? v[i] : v[i] + f * (v[i + 1] - v[i]))
        }
    }

    @Test(arguments: [1, 4, 13])
    func everyStatisticMatchesNaiveCode(n: Int) throws {
        var rng = SplitMix64(seed: UInt64(60 + n))
        let pixels = 300, stats = ["median", "mean", "min", "max", "p10", "p90", "geomedian"]
        var obs = randomObservations(count: n, pixelCount: pixels, bandCount: 2, coherent: true, rng: &rng)
        // Some valid pixels with nir = red = 1 DN... and a zero sum: nir - red over nir + red with
        // both tiny is defined; make a few exact zero denominators with "red - nir".
        for o in obs.indices { for p in stride(from: 0, to: pixels, by: 7) where obs[o].valid[p] != 0 { obs[o].bands[1][p] = obs[o].bands[0][p] } }
        let times = (0..<n).map { ObservationTime(day: Int32($0), rank: $0) }
        let permutation = Array(0..<n).shuffled(using: &rng)
        let recipe = try CompositeRecipe(statistics: stats, bands: ["red", "nir"],
                                         indices: [("ndvi", "(nir - red) / (nir + red)"), ("q", "nir / (red - nir)")])
        let r = try reduced(permutation.map { obs[$0] }, pixelCount: pixels, recipe: recipe, threads: 2,
                            times: permutation.map { times[$0] })
        var undefined = 0
        for p in 0..<pixels {
            let valid = obs.filter { $0.valid[p] != 0 }
            let red = valid.map { Double($0.bands[0][p]) / 10000 }, nir = valid.map { Double($0.bands[1][p]) / 10000 }
            let ndvi = zip(red, nir).map { ($1 - $0) / ($1 + $0) }
            let q = zip(red, nir).map { $1 / ($0 - $1) }.filter(\.isFinite)
            undefined += valid.count - q.count
            for s in stats.prefix(6) {
                let a = r.reals["ndvi_\(s)"]![p], b = Self.naive(ndvi, s)
                #expect(a.bitPattern == b.bitPattern, "ndvi_\(s) pixel \(p): \(a) vs \(b)")
                let c = r.reals["q_\(s)"]![p], d = Self.naive(q, s)
                #expect(c.bitPattern == d.bitPattern, "q_\(s) pixel \(p): \(c) vs \(d)")
            }
        }
        #expect(undefined > 0, "division by zero drops observations")
        #expect(r.reals["ndvi_geomedian"] == nil)
        #expect(recipe.outputs.map(\.name).contains("red_geomedian"))
    }

    @Test func oneStatisticKeepsTheIndexName() throws {
        let recipe = try CompositeRecipe(statistics: ["median"], bands: ["red", "nir"], indices: [("ndvi", "nir - red")])
        #expect(recipe.outputs.map(\.name) == ["red", "nir", "ndvi"])
        #expect(throws: StatisticError.noPerBandStatistic("ndvi")) {
            try CompositeRecipe(statistics: ["medoid"], bands: ["red", "nir"], indices: [("ndvi", "nir - red")])
        }
    }
}
