/// The geometric median across the bands (Roberts, Mueller & McIntyre 2017, as in hdstats'
/// `nangeomedian_pcm` and odc-algo's `geomedian_with_mads`), with its three median absolute
/// deviations: every band's value comes from one spectrally consistent point.
///
/// On reflectance r = DN × 1e-4 (Float32 values, distances summed in Float64, as hdstats does),
/// per pixel over its k valid observations x_i in time order (hdstats' order, so the float32
/// sums match it):
/// - start at the mean; Weiszfeld steps with Vardi–Zhang's correction when the estimate sits
///   on observations: d_i = ‖x_i − y‖, w_i = (1/d_i) / Σ 1/d_j over d_i > 0, T = Σ w_i x_i;
///   with z observations at distance 0, R = (T − y)·Σ 1/d_j and y' = max(0, 1 − z/‖R‖)·T +
///   min(1, z/‖R‖)·y; stop with y' when ‖y' − y‖ < `epsilon` (1e-7, hdstats' default) or
///   after `maxIterations` (1000); k = 1, or all k identical, gives that observation;
/// - band arrays: round_half_up(y × 10000) as uint16 DN, clamped to 1...65535; 0 = no observation;
/// - `emad`: median over i of ‖x_i − y‖, × 10000 (DN units, as odc-algo scales it back);
///   `smad`: median of 1 − x_i·y / (‖x_i‖‖y‖); `bcmad`: median of Σ|x_i − y| / Σ|x_i + y|;
///   float32, an even count giving the mean of the two middle values; NaN = no observation.
///
/// Why 1e-7 and not odc-algo's 0.1 DN (1e-5): Weiszfeld's steps shrink long before it reaches
/// the minimum when the median lies near an observation, so a 1e-5 step can stop ~100 DN short
/// (docs/compositing.md has the figures).
public struct Geomedian: PixelStatistic {
    public var epsilon: Float
    public var maxIterations: Int

    public init(epsilon: Float = 1e-7, maxIterations: Int = 1000) {
        self.epsilon = epsilon
        self.maxIterations = maxIterations
    }

    public var name: String { "geomedian" }

    public static let madNames = ["smad", "emad", "bcmad"]

    public func outputs(bands: [String], several: Bool) -> [OutputDeclaration] {
        let rule = "geometric median across bands of the valid observations (Weiszfeld on reflectance = DN * 1e-4 from the mean, "
            + "observations in time order, stop when a step is below \(epsilon) or after \(maxIterations) iterations, "
            + "as hdstats nangeomedian_pcm by default), round_half_up(value * 10000)"
        let bandArrays = bands.map { band in
            OutputDeclaration(name: OutputDeclaration.bandName(band, statistic: name, several: several), type: .uint16,
                              statistic: name, band: band,
                              longName: "\(band) surface reflectance, geometric median of valid observations",
                              rule: rule + "; 0 = none", units: "1")
        }
        let mads = [
            OutputDeclaration(name: "smad", type: .float32, statistic: name, band: nil,
                              longName: "spectral median absolute deviation from the geometric median",
                              rule: "median over valid observations of the cosine distance 1 - x.gm / (|x| |gm|) on reflectance; NaN = none",
                              units: "1"),
            OutputDeclaration(name: "emad", type: .float32, statistic: name, band: nil,
                              longName: "Euclidean median absolute deviation from the geometric median",
                              rule: "median over valid observations of |x - gm| on reflectance, times 10000 (DN units); NaN = none",
                              units: "1"),
            OutputDeclaration(name: "bcmad", type: .float32, statistic: name, band: nil,
                              longName: "Bray-Curtis median absolute deviation from the geometric median",
                              rule: "median over valid observations of sum|x - gm| / sum|x + gm| on reflectance; NaN = none",
                              units: "1"),
        ]
        return bandArrays + mads
    }

    /// Per-thread working memory, sized for `observations` × `bands`.
    final class Scratch {
        let x: UnsafeMutablePointer<Float>
        let dinv: UnsafeMutablePointer<Float>
        let y: UnsafeMutablePointer<Float>
        let y1: UnsafeMutablePointer<Float>
        let t: UnsafeMutablePointer<Float>
        let deviations: UnsafeMutablePointer<Float>

        init(observations: Int, bands: Int) {
            let n = max(observations, 1)
            x = .allocate(capacity: n * bands)
            dinv = .allocate(capacity: n)
            deviations = .allocate(capacity: 3 * n)
            y = .allocate(capacity: bands)
            y1 = .allocate(capacity: bands)
            t = .allocate(capacity: bands)
        }

        deinit {
            x.deallocate(); dinv.deallocate(); deviations.deallocate()
            y.deallocate(); y1.deallocate(); t.deallocate()
        }
    }

    public func reduce(_ stack: ObservationStack, range: Range<Int>, into outputs: [UnsafeMutableRawPointer]) {
        let bands = stack.bandCount
        precondition(outputs.count == bands + 3, "geomedian writes one array per band and three MADs")
        let scratch = Scratch(observations: stack.observations, bands: bands)
        let bandOut = (0..<bands).map { outputs[$0].assumingMemoryBound(to: UInt16.self) }
        let smad = outputs[bands].assumingMemoryBound(to: Float.self)
        let emad = outputs[bands + 1].assumingMemoryBound(to: Float.self)
        let bcmad = outputs[bands + 2].assumingMemoryBound(to: Float.self)
        let scale: Float = 1e-4
        for p in range {
            // Gather the valid observations of p (valid in band 0 ⇔ valid in every band) in
            // time order: float sums depend on order, and this is hdstats' order (and not the
            // order read lanes stored them in, so a rebuilt chunk is identical).
            var k = 0
            for j in 0..<stack.observations {
                let o = stack.order[j]
                guard stack.value(observation: o, band: 0, pixel: p) != 0 else { continue }
                let row = scratch.x + k &* bands
                for b in 0..<bands { row[b] = Float(stack.value(observation: o, band: b, pixel: p)) * scale }
                k &+= 1
            }
            if k == 0 {
                for b in 0..<bands { bandOut[b][p] = 0 }
                smad[p] = .nan
                emad[p] = .nan
                bcmad[p] = .nan
                continue
            }
            solve(scratch, k: k, bands: bands)
            for b in 0..<bands {
                let dn = Double(scratch.y[b]) * 10000 + 0.5
                bandOut[b][p] = UInt16(min(max(dn.rounded(.down), 1), 65535))
            }
            deviations(scratch, k: k, bands: bands, smad: &smad[p], emad: &emad[p], bcmad: &bcmad[p])
        }
    }

    /// The Weiszfeld iteration into `scratch.y`, from the k observations in `scratch.x`.
    /// Returns the iterations taken.
    @discardableResult
    func solve(_ s: Scratch, k: Int, bands: Int) -> Int {
        let x = s.x, y = s.y, y1 = s.y1, t = s.t, dinv = s.dinv
        // The start as hdstats takes it (numpy's nanmean of float32): a float32 running sum in
        // time order (numpy's pairwise sum is that below 8 values), divided in float64.
        for b in 0..<bands {
            var sum: Float = 0
            for i in 0..<k { sum += x[i &* bands &+ b] }
            y[b] = Float(Double(sum) / Double(k))
        }
        if k == 1 { return 0 }
        var iteration = 0
        while iteration < maxIterations {
            var dinvSum = 0.0
            var zeros = 0
            for i in 0..<k {
                let d = Self.distance(x + i &* bands, y, bands)
                if d > 0 {
                    dinv[i] = 1 / d
                    dinvSum += Double(dinv[i])
                } else {
                    dinv[i] = 0
                    zeros &+= 1
                }
            }
            // Every observation sits on the estimate: it is the median.
            if zeros == k { return iteration }
            let total = Float(dinvSum)
            for b in 0..<bands {
                var sum: Float = 0
                for i in 0..<k where dinv[i] != 0 { sum += (dinv[i] / total) * x[i &* bands &+ b] }
                t[b] = sum
            }
            if zeros == 0 {
                for b in 0..<bands { y1[b] = t[b] }
            } else {
                var r2 = 0.0
                for b in 0..<bands {
                    let r = Double((t[b] - y[b]) * total)
                    r2 += r * r
                }
                let r = Float(r2.squareRoot())
                let rinv = r > 0 ? Float(zeros) / r : 0
                for b in 0..<bands { y1[b] = max(0, 1 - rinv) * t[b] + min(1, rinv) * y[b] }
            }
            let step = Self.distance(y, y1, bands)
            for b in 0..<bands { y[b] = y1[b] }
            iteration &+= 1
            if step < epsilon { break }
        }
        return iteration
    }

    /// The three MADs of the k observations around `scratch.y`.
    func deviations(_ s: Scratch, k: Int, bands: Int, smad: inout Float, emad: inout Float, bcmad: inout Float) {
        let y = s.y
        var yy = 0.0
        for b in 0..<bands { yy += Double(y[b]) * Double(y[b]) }
        let yNorm = yy.squareRoot()
        let e = s.deviations, sp = s.deviations + k, bc = s.deviations + 2 &* k
        for i in 0..<k {
            let row = s.x + i &* bands
            var d2 = 0.0, dot = 0.0, xx = 0.0, diff = 0.0, sum = 0.0
            for b in 0..<bands {
                let xv = Double(row[b]), yv = Double(y[b])
                d2 += (xv - yv) * (xv - yv)
                dot += xv * yv
                xx += xv * xv
                diff += abs(xv - yv)
                sum += abs(xv + yv)
            }
            e[i] = Float(d2.squareRoot())
            sp[i] = Float(1 - dot / (xx.squareRoot() * yNorm))
            bc[i] = Float(diff / sum)
        }
        emad = Self.median(e, k) * 10000
        smad = Self.median(sp, k)
        bcmad = Self.median(bc, k)
    }

    /// ‖a − b‖ over `n` values, summed in Float64 like hdstats.
    @inline(__always)
    static func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var d = 0.0
        for j in 0..<n {
            let v = Double(a[j]) - Double(b[j])
            d += v * v
        }
        return Float(d.squareRoot())
    }

    @inline(__always)
    static func distance(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        distance(UnsafePointer(a), UnsafePointer(b), n)
    }

    /// numpy's median of k values (sorted in place): the middle one, or the mean of the two.
    static func median(_ v: UnsafeMutablePointer<Float>, _ k: Int) -> Float {
        // Insertion sort: k is the observation count of one pixel (tens), no allocation.
        for i in 1..<max(k, 1) {
            let key = v[i]
            var j = i - 1
            while j >= 0 && v[j] > key {
                v[j + 1] = v[j]
                j -= 1
            }
            v[j + 1] = key
        }
        return k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2
    }
}
