import CubeCore
import Testing
@testable import Composite

/// A scene as plain arrays; `add(to:)` feeds it through the pointer API.
private struct Scene {
    var bands: [[UInt16]]
    var mask: [UInt8]?
    var shifts: [Int32]

    @discardableResult
    func add(to builder: ObservationBuilder) throws -> Int {
        try withBufferPointers(bands) { b in
            if let mask {
                return try mask.withUnsafeBufferPointer { try builder.addScene(bands: b, mask: $0, shifts: shifts) }
            }
            return try builder.addScene(bands: b, mask: nil, shifts: shifts)
        }
    }
}

private func planes(_ builder: ObservationBuilder) -> [[UInt16]] {
    (0..<builder.bandCount).map { b in builder.withBand(b) { Array($0) } }
}

@Suite struct FusionTests {
    @Test func firstValidSceneInOrderWins() throws {
        let builder = try ObservationBuilder(pixelCount: 5, bandCount: 2, fusionRule: .firstValid)
        // pixel 0: valid in both → first wins; 1: cloud (9) in first → second; 2: zero band in
        // first → second; 3: invalid in both; 4: valid only in first, second is shadow.
        let first = Scene(bands: [[10, 11, 0, 13, 14], [20, 21, 22, 23, 24]], mask: [4, 9, 4, 8, 5], shifts: [0, 0])
        let second = Scene(bands: [[30, 31, 32, 33, 34], [40, 41, 42, 43, 44]], mask: [4, 4, 4, 10, 3], shifts: [0, 0])
        #expect(try first.add(to: builder) == 2)
        #expect(try second.add(to: builder) == 2)
        #expect(planes(builder) == [[10, 31, 32, 0, 14], [20, 41, 42, 0, 24]])
        #expect((0..<5).map { builder.isValid($0) } == [true, true, true, false, true])
        #expect(builder.validPixelCount == 4)
        #expect(builder.sceneCount == 2)
        #expect(!builder.isComplete)
    }

    @Test func firstSceneWithDataDecides() throws {
        let builder = try ObservationBuilder(pixelCount: 6, bandCount: 2)
        #expect(builder.fusionRule == .firstData)
        // pixel 0: valid in the first → first; 1: cloud (9) in the first → masked, the second
        // is not consulted; 2: zero band under a clear class → no data → second; 3: medium
        // cloud in the first → masked; 4: valid in the first; 5: class 0 (no data) → second.
        let first = Scene(bands: [[10, 11, 0, 13, 14, 15], [20, 21, 22, 23, 24, 25]], mask: [4, 9, 4, 8, 5, 0], shifts: [0, 0])
        let second = Scene(bands: [[30, 31, 32, 33, 34, 35], [40, 41, 42, 43, 44, 45]], mask: [4, 4, 4, 10, 3, 5], shifts: [0, 0])
        #expect(try first.add(to: builder) == 2)
        #expect(builder.decidedPixelCount == 4)
        #expect(!builder.isComplete)
        #expect(try second.add(to: builder) == 2)
        #expect(planes(builder) == [[10, 0, 32, 0, 14, 35], [20, 0, 42, 0, 24, 45]])
        #expect(builder.validPixelCount == 4)
        #expect(builder.decidedPixelCount == 6)
        #expect(builder.isComplete)
        // Complete: a third scene changes nothing.
        #expect(try Scene(bands: [[9, 9, 9, 9, 9, 9], [9, 9, 9, 9, 9, 9]], mask: [4, 4, 4, 4, 4, 4], shifts: [0, 0]).add(to: builder) == 0)
        builder.reset()
        #expect(builder.decidedPixelCount == 0 && !builder.isComplete)
    }

    @Test(arguments: FusionRule.allCases) func sceneSkippedForItsCloudsStillSettlesTheDay(rule: FusionRule) throws {
        // The worker reads no bands of a scene without a usable pixel, but its clouds count.
        let builder = try ObservationBuilder(pixelCount: 4, bandCount: 1, fusionRule: rule)
        let clouds: [UInt8] = [9, 0, 8, 3]
        var needed = [UInt8](repeating: 0, count: 4)
        let n = clouds.withUnsafeBufferPointer { m in needed.withUnsafeMutableBufferPointer { builder.markNeeded(mask: m, into: $0) } }
        #expect(n == 0)
        let settled = try clouds.withUnsafeBufferPointer { try builder.settleMasked(mask: $0) }
        #expect(settled == (rule == .firstData ? 3 : 0))
        try Scene(bands: [[5, 6, 7, 8]], mask: [4, 4, 4, 4], shifts: [0]).add(to: builder)
        #expect(planes(builder) == (rule == .firstData ? [[0, 6, 0, 0]] : [[5, 6, 7, 8]]))
        #expect(builder.sceneCount == 2)
    }

    @Test func neededPixelsFollowTheRule() throws {
        let mask: [UInt8] = [4, 9, 4, 8, 5, 0]
        let first = Scene(bands: [[10, 11, 0, 13, 14, 15], [20, 21, 22, 23, 24, 25]], mask: mask, shifts: [0, 0])
        let next: [UInt8] = [4, 4, 4, 4, 9, 4]
        func needed(_ rule: FusionRule) throws -> [UInt8] {
            let builder = try ObservationBuilder(pixelCount: 6, bandCount: 2, fusionRule: rule)
            var flags = [UInt8](repeating: 7, count: 6)
            // Before any scene: every pixel with a valid class.
            let all = next.withUnsafeBufferPointer { m in flags.withUnsafeMutableBufferPointer { builder.markNeeded(mask: m, into: $0) } }
            #expect(all == 5 && flags == [1, 1, 1, 1, 0, 1])
            try first.add(to: builder)
            let n = next.withUnsafeBufferPointer { m in flags.withUnsafeMutableBufferPointer { builder.markNeeded(mask: m, into: $0) } }
            #expect(n == flags.reduce(0) { $0 + Int($1) })
            return flags
        }
        // First valid: whatever the first scene did not fill (pixel 4 is cloudy in the next).
        #expect(try needed(.firstValid) == [0, 1, 1, 1, 0, 1])
        // First data: only where the first scene had no data.
        #expect(try needed(.firstData) == [0, 0, 1, 0, 0, 1])
    }

    /// The lane loop against a per-pixel model of both rules, over block and lane edges.
    @Test(arguments: FusionRule.allCases) func laneLoopMatchesPerPixelModel(rule: FusionRule) throws {
        let n = 4096 * 2 + 13
        var rng = SystemRandomNumberGenerator()
        let classes: [UInt8] = [0, 1, 3, 4, 4, 4, 5, 6, 8, 9, 10, 11]
        let scenes = (0..<4).map { k in
            Scene(bands: (0..<3).map { _ in (0..<n).map { _ in UInt16.random(in: 0...6, using: &rng) == 0 ? 0 : UInt16.random(in: 1...5000, using: &rng) } },
                  mask: k == 3 ? nil : (0..<n).map { _ in classes.randomElement(using: &rng)! }, shifts: [0, -1000, 7])
        }
        let builder = try ObservationBuilder(pixelCount: n, bandCount: 3, fusionRule: rule)
        for s in scenes { try s.add(to: builder) }
        var expected = [[UInt16]](repeating: [UInt16](repeating: 0, count: n), count: 3)
        let invalid: Set<UInt8> = [0, 1, 3, 8, 9, 10]
        for p in 0..<n {
            for s in scenes {
                let cls = s.mask?[p] ?? 4
                let bandsOK = s.bands.allSatisfy { $0[p] != 0 }
                let valid = !invalid.contains(cls) && bandsOK
                if valid {
                    for b in 0..<3 { expected[b][p] = ValueMap.shift(s.shifts[b]).apply(s.bands[b][p]) }
                    break
                }
                let hasData = (s.mask == nil || cls != 0) && (invalid.contains(cls) || bandsOK)
                if rule == .firstData && hasData { break }
            }
        }
        #expect(planes(builder) == expected)
    }

    @Test func valuesComeFromOneSceneAndCarryItsShifts() throws {
        let builder = try ObservationBuilder(pixelCount: 2, bandCount: 2)
        // Pixel 1 of the first scene has a zero in band 1: the whole pixel comes from scene 2,
        // with scene 2's shifts, never mixed band by band.
        try Scene(bands: [[1500, 1600], [1700, 0]], mask: [4, 4], shifts: [-1000, -1000]).add(to: builder)
        try Scene(bands: [[2000, 2100], [2200, 2300]], mask: [4, 4], shifts: [0, 0]).add(to: builder)
        #expect(planes(builder) == [[500, 2100], [700, 2300]])
    }

    @Test func harmonisationNeverTurnsValidPixelsIntoNodata() throws {
        let builder = try ObservationBuilder(pixelCount: 3, bandCount: 1)
        try Scene(bands: [[500, 0, 1000]], mask: [4, 4, 4], shifts: [-1000]).add(to: builder)
        #expect(planes(builder) == [[1, 0, 1]])
        #expect(builder.validPixelCount == 2)
    }

    @Test(arguments: FusionRule.allCases) func sceneWithoutMaskUsesNodataOnly(rule: FusionRule) throws {
        let builder = try ObservationBuilder(pixelCount: 3, bandCount: 1, fusionRule: rule)
        try Scene(bands: [[7, 0, 9]], mask: nil, shifts: [0]).add(to: builder)
        #expect(planes(builder) == [[7, 0, 9]])
        // Nodata is no data under either rule: the next scene fills it.
        try Scene(bands: [[1, 2, 3]], mask: nil, shifts: [0]).add(to: builder)
        #expect(planes(builder) == [[7, 2, 9]])
        #expect(builder.isComplete)
    }

    @Test func completeAndEmptyObservationsAreReported() throws {
        let builder = try ObservationBuilder(pixelCount: 2, bandCount: 1, fusionRule: .firstValid)
        try Scene(bands: [[5, 6]], mask: [9, 9], shifts: [0]).add(to: builder)
        #expect(!builder.hasValidPixels)
        try Scene(bands: [[5, 6]], mask: [4, 4], shifts: [0]).add(to: builder)
        #expect(builder.isComplete)
        // A later scene changes nothing.
        #expect(try Scene(bands: [[8, 8]], mask: [4, 4], shifts: [0]).add(to: builder) == 0)
        #expect(planes(builder) == [[5, 6]])
        builder.reset()
        #expect(!builder.hasValidPixels && builder.sceneCount == 0)
        #expect(planes(builder) == [[0, 0]])
    }

    @Test func customMaskRuleIsApplied() throws {
        let builder = try ObservationBuilder(pixelCount: 2, bandCount: 1, maskRule: try MaskRule(invalidClasses: [4]))
        try Scene(bands: [[5, 6]], mask: [4, 9], shifts: [0]).add(to: builder)
        #expect(planes(builder) == [[0, 6]])
    }

    @Test func mismatchedInputsThrow() throws {
        let builder = try ObservationBuilder(pixelCount: 2, bandCount: 2)
        #expect(throws: CompositeError.bandCountMismatch(what: "scene bands", expected: 2, actual: 1)) {
            try Scene(bands: [[1, 2]], mask: nil, shifts: [0, 0]).add(to: builder)
        }
        #expect(throws: CompositeError.planeSizeMismatch(what: "scene band 1", expected: 2, actual: 3)) {
            try Scene(bands: [[1, 2], [1, 2, 3]], mask: nil, shifts: [0, 0]).add(to: builder)
        }
        #expect(throws: CompositeError.planeSizeMismatch(what: "scene mask", expected: 2, actual: 1)) {
            try Scene(bands: [[1, 2], [1, 2]], mask: [4], shifts: [0, 0]).add(to: builder)
        }
        #expect(throws: CompositeError.bandCountMismatch(what: "shifts", expected: 2, actual: 1)) {
            try Scene(bands: [[1, 2], [1, 2]], mask: nil, shifts: [0]).add(to: builder)
        }
        #expect(throws: CompositeError.shiftOutOfRange(band: 1, shift: 70000)) {
            try Scene(bands: [[1, 2], [1, 2]], mask: nil, shifts: [0, 70000]).add(to: builder)
        }
        #expect(builder.sceneCount == 0)
        #expect(throws: CompositeError.invalidDimensions("pixelCount 0, bandCount 1")) {
            try ObservationBuilder(pixelCount: 0, bandCount: 1)
        }
    }
}
