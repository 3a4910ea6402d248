import Testing
@testable import Composite

@Suite struct HarmonisationTests {
    /// The Sentinel-2 shift as a value map: clamped to 1...65535 for valid pixels, nodata kept.
    @Test func shiftsClampValidPixelsAndKeepNodata() {
        #expect(ValueMap.shift(-1000).apply(500) == 1)
        #expect(ValueMap.shift(-1000).apply(1000) == 1)
        #expect(ValueMap.shift(-1000).apply(1001) == 1)
        #expect(ValueMap.shift(-1000).apply(1002) == 2)
        #expect(ValueMap.shift(-1000).apply(0) == 0)
        #expect(ValueMap.shift(1000).apply(0) == 0)
        #expect(ValueMap.shift(1000).apply(65000) == 65535)
        #expect(ValueMap.shift(0).apply(1234) == 1234)
    }

    @Test func callerShiftsAreChecked() throws {
        try Harmonisation.validate([-1000, 0], bandCount: 2)
        #expect(throws: CompositeError.bandCountMismatch(what: "shifts", expected: 2, actual: 1)) {
            try Harmonisation.validate([0], bandCount: 2)
        }
        #expect(throws: CompositeError.shiftOutOfRange(band: 1, shift: 70000)) {
            try Harmonisation.validate([0, 70000], bandCount: 2)
        }
    }
}
