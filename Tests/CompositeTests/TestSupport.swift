@testable import Composite

/// Deterministic generator so a failing seed can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One observation as plain arrays (test side).
struct TestObservation {
    var bands: [[UInt16]]
    var valid: [UInt8]
}

/// The median rule written the obvious way: sort the valid values, take the middle one, or
/// (a + b + 1) / 2 of the two middle ones.
func naiveMedian(_ values: [UInt16]) -> UInt16 {
    if values.isEmpty { return 0 }
    let s = values.sorted()
    let a = Int(s[(s.count - 1) / 2]), b = Int(s[s.count / 2])
    return UInt16((a + b + 1) / 2)
}

func naiveComposite(_ observations: [TestObservation], pixelCount: Int, bandCount: Int) -> CompositeResult {
    var medians = [[UInt16]](repeating: [UInt16](repeating: 0, count: pixelCount), count: bandCount)
    var count = [UInt16](repeating: 0, count: pixelCount)
    for p in 0..<pixelCount {
        let valid = observations.filter { $0.valid[p] != 0 }
        count[p] = UInt16(valid.count)
        for b in 0..<bandCount {
            medians[b][p] = naiveMedian(valid.map { $0.bands[b][p] })
        }
    }
    return CompositeResult(medians: medians, count: count)
}

extension CompositeReducer {
    /// Copies a test observation in through the public validity-plane API.
    @discardableResult
    func add(_ o: TestObservation) throws -> Bool {
        try withBufferPointers(o.bands) { bands in
            try o.valid.withUnsafeBufferPointer { try add(bands: bands, valid: $0) }
        }
    }
}

/// Calls `body` with read pointers to every plane of `planes`.
func withBufferPointers<R>(_ planes: [[UInt16]], _ body: ([UnsafeBufferPointer<UInt16>]) throws -> R) rethrows -> R {
    var pointers: [UnsafeBufferPointer<UInt16>] = []
    func step(_ i: Int) throws -> R {
        if i == planes.count { return try body(pointers) }
        return try planes[i].withUnsafeBufferPointer { p in
            pointers.append(p)
            return try step(i + 1)
        }
    }
    return try step(0)
}

/// Random observations: per pixel a validity probability (some pixels never valid), values
/// either full range or a tiny range (to force ties). `coherent` makes validity come in runs
/// of 1-40 pixels, like clouds, so whole 8-pixel blocks of an observation are invalid.
func randomObservations(
    count n: Int, pixelCount: Int, bandCount: Int, coherent: Bool = false, rng: inout SplitMix64
) -> [TestObservation] {
    let probability = (0..<pixelCount).map { _ -> Double in
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return 0
        case 1: return 1
        default: return Double.random(in: 0...1, using: &rng)
        }
    }
    let tiny = Bool.random(using: &rng)
    return (0..<n).map { _ in
        var valid = (0..<pixelCount).map { p -> UInt8 in Double.random(in: 0..<1, using: &rng) < probability[p] ? 1 : 0 }
        if coherent {
            var p = 0
            while p < pixelCount {
                let run = min(Int.random(in: 1...40, using: &rng), pixelCount - p)
                let flag: UInt8 = Bool.random(using: &rng) ? 1 : 0
                for q in p..<(p + run) { valid[q] &= flag }
                p += run
            }
        }
        let bands = (0..<bandCount).map { _ in
            (0..<pixelCount).map { p -> UInt16 in
                guard valid[p] != 0 else { return 0 }
                return tiny ? UInt16.random(in: 1...4, using: &rng) : UInt16.random(in: 1...65535, using: &rng)
            }
        }
        return TestObservation(bands: bands, valid: valid)
    }
}
