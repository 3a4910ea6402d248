/// The medoid across the bands: per pixel the observation whose band vector has the least sum
/// of Euclidean distances to the pixel's other valid observations. Unlike the geomedian it is
/// one real observation: its bands are written unchanged, with the day it was acquired.
///
/// Per pixel, over its k valid observations x_i in time order (the observations' rank):
/// - S_i = Σ_j sqrt(Σ_b (x_ib − x_jb)²) over the stored values (reflectance × 10000: the same
///   order as on reflectance, and exact: integer squares, a float64 square root, the sum in
///   float64 over j in time order);
/// - the medoid is the i with the least S_i, the earliest on ties (strictly less replaces);
/// - band arrays: x_i unchanged (uint16), 0 = no observation; `medoid_time`: its solar day,
///   int32 days since 1970-01-01, `OutputType.int32Fill` = no observation.
///
/// Cost: k² distances of B bands per pixel (k(k−1)/2 computed, each used twice).
public struct Medoid: PixelStatistic {
    public init() {}

    public var name: String { "medoid" }

    public static let timeName = "medoid_time"

    public func outputs(bands: [String], several: Bool) -> [OutputDeclaration] {
        let rule = "the valid observation with the least sum of Euclidean distances to the others over the bands "
            + "(on stored values = reflectance * 10000; float64 sum in time order; ties: the earliest); its value"
        let bandArrays = bands.map { band in
            OutputDeclaration(name: OutputDeclaration.bandName(band, statistic: name, several: several), type: .uint16,
                              statistic: name, band: band,
                              longName: "\(band) surface reflectance of the medoid observation",
                              rule: rule + "; 0 = none", units: "1")
        }
        let time = OutputDeclaration(
            name: Self.timeName, type: .int32, statistic: name, band: nil,
            longName: "acquisition date (solar day) of the medoid observation",
            rule: "the solar day of the observation the medoid bands come from; fill \(OutputType.int32Fill) = none",
            units: "days since 1970-01-01")
        return bandArrays + [time]
    }

    /// Per-thread working memory for k observations.
    final class Scratch {
        let slots: UnsafeMutablePointer<Int>
        let sums: UnsafeMutablePointer<Double>

        init(observations: Int) {
            slots = .allocate(capacity: max(observations, 1))
            sums = .allocate(capacity: max(observations, 1))
        }

        deinit {
            slots.deallocate()
            sums.deallocate()
        }
    }

    public func reduce(_ stack: ObservationStack, range: Range<Int>, into outputs: [UnsafeMutableRawPointer]) {
        let bands = stack.bandCount
        precondition(outputs.count == bands + 1, "the medoid writes one array per band and its time")
        let bandOut = (0..<bands).map { outputs[$0].assumingMemoryBound(to: UInt16.self) }
        let timeOut = outputs[bands].assumingMemoryBound(to: Int32.self)
        let scratch = Scratch(observations: stack.observations)
        let slots = scratch.slots, sums = scratch.sums
        for p in range {
            // The valid observations of p, in time order.
            var k = 0
            for j in 0..<stack.observations {
                let o = stack.order[j]
                guard stack.value(observation: o, band: 0, pixel: p) != 0 else { continue }
                slots[k] = o
                sums[k] = 0
                k &+= 1
            }
            guard k > 0 else {
                for b in 0..<bands { bandOut[b][p] = 0 }
                timeOut[p] = OutputType.int32Fill
                continue
            }
            // Each pair once; both sums take the same distance. S_i is then a sum over j in
            // time order (j < i added while visiting earlier rows, j > i in its own row).
            for i in 0..<k {
                for j in (i &+ 1)..<max(k, i &+ 1) {
                    var d2: Int64 = 0
                    for b in 0..<bands {
                        let v = Int64(stack.value(observation: slots[i], band: b, pixel: p))
                            &- Int64(stack.value(observation: slots[j], band: b, pixel: p))
                        d2 &+= v &* v
                    }
                    let d = Double(d2).squareRoot()
                    sums[i] += d
                    sums[j] += d
                }
            }
            var best = 0
            for i in 1..<max(k, 1) where sums[i] < sums[best] { best = i }
            for b in 0..<bands { bandOut[b][p] = stack.value(observation: slots[best], band: b, pixel: p) }
            timeOut[p] = stack.days[slots[best]]
        }
    }
}
