import CubeCore
import Testing
@testable import Composite

@Suite struct ReducerTests {
    @Test func countIsTheNumberOfValidObservations() throws {
        let reducer = try CompositeReducer(pixelCount: 4, bandCount: 2, maxObservations: 3)
        try reducer.add(TestObservation(bands: [[1, 2, 0, 4], [5, 6, 0, 8]], valid: [1, 1, 0, 1]))
        try reducer.add(TestObservation(bands: [[3, 0, 0, 6], [7, 0, 0, 9]], valid: [1, 0, 0, 1]))
        let result = reducer.finish()
        #expect(result.count == [2, 1, 0, 2])
        #expect(result.medians == [[2, 2, 0, 5], [6, 6, 0, 9]])
    }

    @Test func emptyObservationsAreNotStored() throws {
        let reducer = try CompositeReducer(pixelCount: 3, bandCount: 1, maxObservations: 1)
        #expect(try reducer.add(TestObservation(bands: [[9, 9, 9]], valid: [0, 0, 0])) == false)
        let builder = try reducer.beginObservation()
        _ = try [UInt16](arrayLiteral: 4, 5, 6).withUnsafeBufferPointer { b in
            try [UInt8](arrayLiteral: 9, 9, 9).withUnsafeBufferPointer { m in
                try builder.addScene(bands: [b], mask: m, shifts: [0])
            }
        }
        #expect(try reducer.commitObservation() == false)
        #expect(reducer.observationCount == 0)
        // The one slot is still free.
        #expect(try reducer.add(TestObservation(bands: [[1, 0, 3]], valid: [1, 0, 1])))
        #expect(reducer.finish() == CompositeResult(medians: [[1, 0, 3]], count: [1, 0, 1]))
    }

    @Test func validValueZeroIsStoredAsOne() throws {
        let reducer = try CompositeReducer(pixelCount: 2, bandCount: 1, maxObservations: 1)
        try reducer.add(TestObservation(bands: [[0, 5]], valid: [1, 0]))
        #expect(reducer.finish() == CompositeResult(medians: [[1, 0]], count: [1, 0]))
    }

    @Test(arguments: FusionRule.allCases) func slotBuildersFuseStraightIntoTheReducer(rule: FusionRule) throws {
        let reducer = try CompositeReducer(pixelCount: 3, bandCount: 1, maxObservations: 2)
        let days: [[(values: [UInt16], mask: [UInt8], shift: Int32)]] = [
            [([1500, 0, 1200], [4, 4, 9], -1000), ([0, 1700, 1300], [4, 4, 4], -1000)],
            [([300, 400, 500], [4, 8, 4], 0)],
        ]
        for day in days {
            let builder = try reducer.beginObservation(fusionRule: rule)
            for scene in day {
                _ = try scene.values.withUnsafeBufferPointer { v in
                    try scene.mask.withUnsafeBufferPointer { m in
                        try builder.addScene(bands: [v], mask: m, shifts: [scene.shift])
                    }
                }
            }
            #expect(try reducer.commitObservation())
            // A committed slot cannot be written through the old builder.
            #expect(throws: CompositeError.noOpenObservation) {
                try [UInt16](arrayLiteral: 1, 1, 1).withUnsafeBufferPointer { try builder.addScene(bands: [$0], mask: nil, shifts: [0]) }
            }
        }
        switch rule {
        case .firstValid:
            // Day 1 → [500, 700, 300]; day 2 → [300, -, 500].
            #expect(reducer.finish() == CompositeResult(medians: [[400, 700, 400]], count: [2, 1, 2]))
        case .firstData:
            // Day 1 → [500, 700, -] (the first scene has data at pixel 2: a cloud); day 2 → [300, -, 500].
            #expect(reducer.finish() == CompositeResult(medians: [[400, 700, 500]], count: [2, 1, 1]))
        }
        #expect(throws: CompositeError.capacityExceeded(capacity: 2)) { try reducer.beginObservation() }
        #expect(throws: CompositeError.noOpenObservation) { try reducer.commitObservation() }
    }

    @Test func standaloneBuilderIsCopiedIn() throws {
        let builder = try ObservationBuilder(pixelCount: 2, bandCount: 1)
        _ = try [UInt16](arrayLiteral: 7, 8).withUnsafeBufferPointer { try builder.addScene(bands: [$0], mask: nil, shifts: [0]) }
        let reducer = try CompositeReducer(pixelCount: 2, bandCount: 1, maxObservations: 2)
        try reducer.add(builder)
        builder.reset()
        _ = try [UInt16](arrayLiteral: 0, 10).withUnsafeBufferPointer { try builder.addScene(bands: [$0], mask: nil, shifts: [0]) }
        try reducer.add(builder)
        #expect(reducer.finish() == CompositeResult(medians: [[7, 9]], count: [1, 2]))
    }

    @Test func finishWritesIntoCallerBuffersAndResetReusesStorage() throws {
        let reducer = try CompositeReducer(pixelCount: 3, bandCount: 2, maxObservations: 1)
        try reducer.add(TestObservation(bands: [[1, 2, 3], [4, 5, 6]], valid: [1, 1, 1]))
        var chunk = [UInt16](repeating: 99, count: 8)  // two bands of 3 + 2 spare
        var count = [UInt16](repeating: 99, count: 3)
        try chunk.withUnsafeMutableBufferPointer { c in
            try count.withUnsafeMutableBufferPointer { n in
                try reducer.finish(medians: [.init(rebasing: c[0..<3]), .init(rebasing: c[4..<7])], count: n, threads: 2)
            }
        }
        #expect(chunk == [1, 2, 3, 99, 4, 5, 6, 99])
        #expect(count == [1, 1, 1])
        reducer.reset()
        #expect(reducer.finish() == CompositeResult(medians: [[0, 0, 0], [0, 0, 0]], count: [0, 0, 0]))
        #expect(throws: CompositeError.planeSizeMismatch(what: "count plane", expected: 3, actual: 2)) {
            try count.withUnsafeMutableBufferPointer { n in
                try chunk.withUnsafeMutableBufferPointer { c in
                    try reducer.finish(medians: [.init(rebasing: c[0..<3]), .init(rebasing: c[3..<6])], count: .init(rebasing: n[0..<2]))
                }
            }
        }
    }

    @Test func badDimensionsThrow() {
        #expect(throws: CompositeError.self) { try CompositeReducer(pixelCount: 0, bandCount: 1, maxObservations: 1) }
        #expect(throws: CompositeError.self) { try CompositeReducer(pixelCount: 1, bandCount: 1, maxObservations: 70000) }
        #expect(throws: CompositeError.self) { try CompositeReducer(pixelCount: Int.max / 2, bandCount: 4, maxObservations: 100) }
    }

    @Test func memoryEstimateAndStripPlan() {
        // 1200 × 1200 pixels, 3 bands, 25 observations: 216 MB of observations + 2.9 MB counts.
        let bytes = CompositeReducer.bytesRequired(pixelCount: 1_440_000, bandCount: 3, observations: 25)
        #expect(bytes == 25 * 3 * 1_440_000 * 2 + 1_440_000 * 2 + 25 * 16)
        // 100 observations × 4 bands need 1.15 GB → strips under 512 MiB.
        let budget = 512 << 20
        let rows = StripPlan.rowsPerStrip(width: 1200, height: 1200, bandCount: 4, observations: 100, budgetBytes: budget, threads: 2)
        #expect(rows < 1200 && rows > 400)
        #expect(CompositeReducer.bytesRequired(pixelCount: rows * 1200, bandCount: 4, observations: 100, threads: 2) <= budget)
        #expect(CompositeReducer.bytesRequired(pixelCount: (rows + 1) * 1200, bandCount: 4, observations: 100, threads: 2) > budget)
        #expect(StripPlan.rowsPerStrip(width: 1200, height: 1200, bandCount: 3, observations: 25, budgetBytes: budget) == 1200)
        #expect(StripPlan.rowsPerStrip(width: 1200, height: 1200, bandCount: 3, observations: 25, budgetBytes: 10) == 1)
        let strips = StripPlan.strips(height: 1200, rowsPerStrip: rows)
        #expect(strips.first?.lowerBound == 0 && strips.last?.upperBound == 1200)
        #expect(strips.count == (1200 + rows - 1) / rows)
        #expect(strips.allSatisfy { $0.count <= rows })
        #expect(strips.map(\.count).max()! - strips.map(\.count).min()! <= 1)
        #expect(zip(strips, strips.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(StripPlan.strips(height: 5, rowsPerStrip: 2) == [0..<1, 1..<3, 3..<5])
    }

    @Test(arguments: [3, 11])
    func reducingInStripsEqualsReducingWhole(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let width = 37, height = 23, bands = 3, n = 17
        let observations = randomObservations(count: n, pixelCount: width * height, bandCount: bands, rng: &rng)
        let whole = try CompositeReducer(pixelCount: width * height, bandCount: bands, maxObservations: n)
        for o in observations { try whole.add(o) }
        let expected = whole.finish()

        var medians = [[UInt16]](repeating: [UInt16](repeating: 7, count: width * height), count: bands)
        var count = [UInt16](repeating: 7, count: width * height)
        for rows in StripPlan.strips(height: height, rowsPerStrip: 5) {
            let pixels = rows.lowerBound * width..<rows.upperBound * width
            let strip = try CompositeReducer(pixelCount: pixels.count, bandCount: bands, maxObservations: n)
            for o in observations {
                try strip.add(TestObservation(bands: o.bands.map { Array($0[pixels]) }, valid: Array(o.valid[pixels])))
            }
            let part = strip.finish(threads: 2)
            for b in 0..<bands { medians[b].replaceSubrange(pixels, with: part.medians[b]) }
            count.replaceSubrange(pixels, with: part.count)
        }
        #expect(CompositeResult(medians: medians, count: count) == expected)
    }
}
