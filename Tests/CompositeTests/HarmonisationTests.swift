import Testing
@testable import Composite

@Suite struct HarmonisationTests {
    @Test func newBaselineOffsetBecomesMinus1000() throws {
        let s = try Harmonisation.shift(offset: -0.1, scale: 0.0001, boaOffsetApplied: false, processingBaseline: "04.00")
        #expect(s == -1000)
    }

    @Test func offsetAlreadyAppliedMeansNoShift() throws {
        #expect(try Harmonisation.shift(offset: -0.1, scale: 0.0001, boaOffsetApplied: true, processingBaseline: "05.09") == 0)
    }

    @Test func baselineDecidesWhenOffsetIsMissing() throws {
        #expect(try Harmonisation.shift(offset: nil, scale: nil, boaOffsetApplied: nil, processingBaseline: "02.14") == 0)
        #expect(try Harmonisation.shift(offset: nil, scale: nil, boaOffsetApplied: nil, processingBaseline: "04.00") == -1000)
        #expect(try Harmonisation.shift(offset: nil, scale: nil, boaOffsetApplied: false, processingBaseline: "05.10") == -1000)
        #expect(try Harmonisation.shift(offset: nil, scale: nil, boaOffsetApplied: nil, processingBaseline: nil) == 0)
        #expect(try Harmonisation.shift(offset: 0, scale: 0.0001, boaOffsetApplied: nil, processingBaseline: nil) == 0)
    }

    @Test func badMetadataIsRejected() {
        #expect(throws: CompositeError.invalidOffsetScale(offset: -0.1, scale: 0)) {
            try Harmonisation.shift(offset: -0.1, scale: 0, boaOffsetApplied: nil, processingBaseline: nil)
        }
        #expect(throws: CompositeError.invalidOffsetScale(offset: -0.10005, scale: 0.0001)) {
            try Harmonisation.shift(offset: -0.10005, scale: 0.0001, boaOffsetApplied: nil, processingBaseline: nil)
        }
        #expect(throws: CompositeError.invalidProcessingBaseline("N0400")) {
            try Harmonisation.shift(offset: nil, scale: nil, boaOffsetApplied: nil, processingBaseline: "N0400")
        }
    }

    @Test func baselinesCompareNumerically() throws {
        #expect(try ProcessingBaseline(parsing: "04.00") > ProcessingBaseline(parsing: "02.14"))
        #expect(try ProcessingBaseline(parsing: " 4.0 ") == ProcessingBaseline(major: 4, minor: 0))
        #expect(try ProcessingBaseline(parsing: "05.09").description == "05.09")
    }

    @Test func applyClampsValidPixelsAndKeepsNodata() {
        #expect(Harmonisation.apply(500, shift: -1000) == 1)
        #expect(Harmonisation.apply(1000, shift: -1000) == 1)
        #expect(Harmonisation.apply(1001, shift: -1000) == 1)
        #expect(Harmonisation.apply(1002, shift: -1000) == 2)
        #expect(Harmonisation.apply(0, shift: -1000) == 0)
        #expect(Harmonisation.apply(0, shift: 1000) == 0)
        #expect(Harmonisation.apply(65000, shift: 1000) == 65535)
        #expect(Harmonisation.apply(1234, shift: 0) == 1234)
    }
}
