import Testing
@testable import Composite

@Suite struct MaskRuleTests {
    @Test func defaultRuleDropsNodataSaturatedShadowCloudsAndCirrus() {
        let rule = MaskRule.sentinel2Default
        #expect(rule.invalidClasses == [0, 1, 3, 8, 9, 10])
        for c in [0, 1, 3, 8, 9, 10] { #expect(rule.isInvalid(UInt8(c))) }
        for c in [2, 4, 5, 6, 7, 11, 12, 255] { #expect(!rule.isInvalid(UInt8(c))) }
    }

    @Test func customClassesBuildTheTable() throws {
        let rule = try MaskRule(invalidClasses: [255, 3])
        #expect(rule.invalidClasses == [3, 255])
        #expect(rule.isInvalid(255))
        #expect(!rule.isInvalid(0))
    }

    @Test func classOutsideByteRangeIsRejected() {
        #expect(throws: CompositeError.maskClassOutOfRange(256)) { try MaskRule(invalidClasses: [1, 256]) }
        #expect(throws: CompositeError.maskClassOutOfRange(-1)) { try MaskRule(invalidClasses: [-1]) }
    }
}
