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
        let builder = try ObservationBuilder(pixelCount: 5, bandCount: 2)
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

    @Test func sceneWithoutMaskUsesNodataOnly() throws {
        let builder = try ObservationBuilder(pixelCount: 3, bandCount: 1)
        try Scene(bands: [[7, 0, 9]], mask: nil, shifts: [0]).add(to: builder)
        #expect(planes(builder) == [[7, 0, 9]])
    }

    @Test func completeAndEmptyObservationsAreReported() throws {
        let builder = try ObservationBuilder(pixelCount: 2, bandCount: 1)
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
