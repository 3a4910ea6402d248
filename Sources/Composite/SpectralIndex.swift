/// A spectral index computed per observation, then reduced over the observations by the
/// composite's per-band statistics (median, mean, min, max, pNN): `ndvi` (one statistic) or
/// `ndvi_median`, `ndvi_p90` (several), float32, NaN where no observation gives a value.
///
/// Per pixel, each valid observation's index is the program over its bands as reflectance
/// (stored value / 10000) in Float64; a result that is not finite (a division by zero) drops
/// that observation for this index. Over the k remaining values v (time order for the mean,
/// sorted for the rest), in Float64, then rounded to float32:
/// - median: odd k the middle value, even k (v[k/2−1] + v[k/2]) / 2 (numpy's median);
/// - mean: the sum in time order / k; min, max: v[0], v[k−1];
/// - pNN: h = ((k−1)·NN) / 100, i = ⌊h⌋, f = h − i: v[i] when f = 0, else v[i] + f·(v[i+1] − v[i])
///   (numpy's linear percentile).
public struct SpectralIndex: PixelStatistic {
    /// What one output array takes from the sorted values.
    public enum Rule: Sendable, Equatable {
        case median, mean, min, max
        case percentile(Int)

        /// The rule of a per-band statistic's name, nil for statistics across bands.
        init?(statistic: String) {
            switch statistic {
            case "median": self = .median
            case "mean": self = .mean
            case "min": self = .min
            case "max": self = .max
            default:
                guard statistic.hasPrefix("p"), let q = Int(statistic.dropFirst()) else { return nil }
                self = .percentile(q)
            }
        }

        var words: String {
            switch self {
            case .median: return "median (even count: mean of the two middle values)"
            case .mean: return "mean (sum in time order / count)"
            case .min: return "minimum"
            case .max: return "maximum"
            case .percentile(let q): return "linear percentile \(q): h = (k-1)*\(q)/100, v[floor h] + frac(h)*(v[floor h + 1] - v[floor h])"
            }
        }
    }

    /// The array's name stem (`ndvi`).
    public let name: String
    public let program: IndexProgram
    /// The statistics it is reduced by, with their names, in composite order.
    public let rules: [(statistic: String, rule: Rule)]
    /// Several statistics in the composite: arrays are `name_stat`.
    public let several: Bool

    /// `statistics`: the composite's statistic names; those across bands (geomedian, medoid)
    /// do not apply to one index and are skipped.
    public init(name: String, program: IndexProgram, statistics: [String], several: Bool) {
        self.name = name
        self.program = program
        rules = statistics.compactMap { s in Rule(statistic: s).map { (s, $0) } }
        self.several = several
    }

    public func outputs(bands: [String], several _: Bool) -> [OutputDeclaration] {
        rules.map { statistic, rule in
            OutputDeclaration(
                name: several ? "\(name)_\(statistic)" : name, type: .float32, statistic: statistic, band: nil,
                longName: "\(name) spectral index, \(statistic) of valid observations",
                rule: "per observation \(program.text) over reflectance (stored value / 10000) in float64, "
                    + "observations where it is not finite dropped; then the \(rule.words) of the values; NaN = none",
                units: "1")
        }
    }

    /// Pixels evaluated at once: long enough for the loops to stream, short enough that the
    /// per-observation values of a block stay in cache.
    static let block = 256

    public func reduce(_ stack: ObservationStack, range: Range<Int>, into outputs: [UnsafeMutableRawPointer]) {
        precondition(outputs.count == rules.count, "an index writes one array per statistic")
        let outs = outputs.map { $0.assumingMemoryBound(to: Float.self) }
        let n = stack.observations, block = Self.block
        let values = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1) * block)
        let registers = UnsafeMutablePointer<Double>.allocate(capacity: max(program.depth, 1) * block)
        let sorted = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1))
        defer { values.deallocate(); registers.deallocate(); sorted.deallocate() }
        var start = range.lowerBound
        while start < range.upperBound {
            let count = min(block, range.upperBound - start)
            // The index of every observation over the block, in time order; NaN = no value.
            for j in 0..<n {
                let o = stack.order[j]
                let offset = o &* stack.slotStride &+ start
                let slot: UnsafePointer<UInt16> = stack.values + offset
                let planes = (0..<stack.bandCount).map { (b: Int) -> UnsafePointer<UInt16> in slot + b * stack.pixelCount }
                let row = values + j &* block
                program.evaluate(planes: planes, count: count, into: row, registers: registers, stride: block)
                let band0 = planes[0]
                for p in 0..<count where band0[p] == 0 || !row[p].isFinite { row[p] = .nan }
            }
            for p in 0..<count {
                var k = 0
                var sum = 0.0
                for j in 0..<n {
                    let v = values[j &* block &+ p]
                    guard !v.isNaN else { continue }
                    sum += v
                    sorted[k] = v
                    k &+= 1
                }
                guard k > 0 else {
                    for out in outs { out[start &+ p] = .nan }
                    continue
                }
                Self.sort(sorted, k)
                for (r, (_, rule)) in rules.enumerated() {
                    outs[r][start &+ p] = Float(Self.value(rule, sorted, k, sum: sum))
                }
            }
            start += count
        }
    }

    @inline(__always)
    static func value(_ rule: Rule, _ v: UnsafeMutablePointer<Double>, _ k: Int, sum: Double) -> Double {
        switch rule {
        case .median: return k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2
        case .mean: return sum / Double(k)
        case .min: return v[0]
        case .max: return v[k - 1]
        case .percentile(let q):
            let h = Double((k - 1) * q) / 100
            let i = Int(h.rounded(.down))
            let f = h - Double(i)
            return f == 0 ? v[i] : v[i] + f * (v[i + 1] - v[i])
        }
    }

    /// Insertion sort: k is one pixel's observation count (tens).
    static func sort(_ v: UnsafeMutablePointer<Double>, _ k: Int) {
        for i in 1..<max(k, 1) {
            let key = v[i]
            var j = i - 1
            while j >= 0 && v[j] > key {
                v[j + 1] = v[j]
                j -= 1
            }
            v[j + 1] = key
        }
    }
}

/// The built-in indices, from the Awesome Spectral Indices catalogue (spyndex), with its
/// default constants, over Earth Search's common band names (swir16 = B11, swir22 = B12).
public enum SpectralIndices {
    public static let catalogue: [(name: String, expression: String)] = [
        ("ndvi", "(nir - red) / (nir + red)"),                                   // Rouse et al. 1974
        ("ndwi", "(green - nir) / (green + nir)"),                               // McFeeters 1996
        ("nbr", "(nir - swir22) / (nir + swir22)"),                              // Key & Benson 2006
        ("ndmi", "(nir - swir16) / (nir + swir16)"),                             // Gao 1996 (NDMI)
        ("evi", "2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0)"),     // g, C1, C2, L
        ("savi", "(1.0 + 0.5) * (nir - red) / (nir + red + 0.5)"),               // L = 0.5
    ]

    public static func expression(_ name: String) -> String? {
        catalogue.first { $0.name == name }?.expression
    }

    public static var names: String { catalogue.map(\.name).joined(separator: ", ") }
}
