import Testing
@testable import Composite

@Suite struct MedianTests {
    @Test(arguments: 0..<24)
    func matchesNaiveSortOnRandomData(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let n = seed < 4 ? seed : Int.random(in: 0...40, using: &rng)  // seeds 0-3 pin N = 0...3
        let pixels = Int.random(in: 1...300, using: &rng)  // mostly not a multiple of 8
        let bands = Int.random(in: 1...4, using: &rng)
        let observations = randomObservations(
            count: n, pixelCount: pixels, bandCount: bands, coherent: seed % 2 == 1, rng: &rng)
        let reducer = try CompositeReducer(pixelCount: pixels, bandCount: bands, maxObservations: max(n, 1))
        for o in observations { try reducer.add(o) }
        let expected = naiveComposite(observations, pixelCount: pixels, bandCount: bands)
        #expect(reducer.finish() == expected, "seed \(seed), N \(n), P \(pixels), B \(bands)")
        #expect(reducer.finish(threads: 3) == expected)
    }

    @Test func coversEveryCountUpTo40IncludingEvenAndEmpty() throws {
        // Pixel p has exactly p % 41 valid observations, at varying positions.
        var rng = SplitMix64(seed: 99)
        let pixels = 41 * 7, n = 40
        var observations = (0..<n).map { _ in
            TestObservation(bands: [[UInt16](repeating: 0, count: pixels)], valid: [UInt8](repeating: 0, count: pixels))
        }
        for p in 0..<pixels {
            var slots = Array(0..<n)
            slots.shuffle(using: &rng)
            for o in slots.prefix(p % 41) {
                observations[o].valid[p] = 1
                observations[o].bands[0][p] = UInt16.random(in: 1...65535, using: &rng)
            }
        }
        let reducer = try CompositeReducer(pixelCount: pixels, bandCount: 1, maxObservations: n)
        for o in observations { try reducer.add(o) }
        let result = reducer.finish()
        let expected = naiveComposite(observations, pixelCount: pixels, bandCount: 1)
        #expect(result == expected)
        #expect(result.count.enumerated().allSatisfy { Int($1) == $0 % 41 })
    }

    @Test(arguments: [
        ([1, 2], 2), ([2, 4], 3), ([65534, 65535], 65535), ([65535, 65535], 65535), ([1, 1], 1),
        ([3, 1, 2], 2), ([4, 1, 3, 2], 3), ([7], 7), ([10, 20, 30, 40, 50, 60], 35),
    ] as [([UInt16], UInt16)])
    func evenCountsRoundHalfUp(values: [UInt16], median: UInt16) throws {
        // Put the values in distinct observations, padded by invalid ones on both sides.
        let reducer = try CompositeReducer(pixelCount: 9, bandCount: 1, maxObservations: values.count + 2)
        let empty = TestObservation(bands: [[0, 0, 0, 0, 0, 0, 0, 0, 5]], valid: [0, 0, 0, 0, 0, 0, 0, 0, 1])
        try reducer.add(empty)
        for v in values {
            try reducer.add(TestObservation(bands: [[UInt16](repeating: v, count: 9)], valid: [UInt8](repeating: 1, count: 9)))
        }
        try reducer.add(empty)
        let result = reducer.finish()
        #expect(result.medians[0].prefix(8).allSatisfy { $0 == median })
        #expect(result.count.prefix(8).allSatisfy { Int($0) == values.count })
        #expect(result.count[8] == UInt16(values.count + 2))
    }

    @Test func largeObservationCountsWithCoherentGapsMatchNaive() throws {
        // Many observations, most blocks see only a few: exercises the dropped-observation
        // path and the size buckets above 16.
        var rng = SplitMix64(seed: 4242)
        let n = 90, pixels = 203
        let observations = randomObservations(count: n, pixelCount: pixels, bandCount: 2, coherent: true, rng: &rng)
        let reducer = try CompositeReducer(pixelCount: pixels, bandCount: 2, maxObservations: n)
        for o in observations { try reducer.add(o) }
        #expect(reducer.finish(threads: 2) == naiveComposite(observations, pixelCount: pixels, bandCount: 2))
    }

    @Test func sizeBucketsNeverShrinkAndStayWithinTheObservationCount() {
        for limit in [0, 5, 16, 17, 25, 100] {
            for k in 0...limit {
                let b = SortKernel.bucket(k, limit: limit)
                #expect(b >= k && b <= limit)
            }
        }
    }

    @Test func networkSortsTheUpperHalfForEverySize() {
        // The pruned network must sort positions ≥ (n-1)/2 for any input (checked on random
        // inputs with many ties) — the kernel reads nothing below.
        var rng = SplitMix64(seed: 7)
        for n in 0...70 {
            let network = SortingNetwork(size: n)
            for _ in 0..<40 {
                var v = (0..<n).map { _ in Int.random(in: 0...5, using: &rng) }
                let sorted = v.sorted()
                for k in stride(from: 0, to: network.pairs.count, by: 2) {
                    let i = Int(network.pairs[k]), j = Int(network.pairs[k + 1])
                    if v[i] > v[j] { v.swapAt(i, j) }
                }
                #expect(Array(v[((max(n, 1) - 1) / 2)...]) == Array(sorted[((max(n, 1) - 1) / 2)...]), "n \(n)")
            }
        }
        #expect(SortingNetwork.mergeExchange(25).count == 138)
        #expect(SortingNetwork(size: 25).comparatorCount <= 138)
    }

    @Test func threadSplitCoversThePixelsInAlignedParts() {
        for (pixels, threads) in [(1, 4), (8, 2), (17, 2), (1000, 3), (13, 1)] {
            let parts = ThreadSplit.ranges(pixelCount: pixels, threads: threads, alignment: 8)
            #expect(parts.first?.lowerBound == 0)
            #expect(parts.last?.upperBound == pixels)
            for (a, b) in zip(parts, parts.dropFirst()) {
                #expect(a.upperBound == b.lowerBound)
                #expect(a.upperBound % 8 == 0)
            }
            #expect(parts.count <= threads)
        }
    }
}
