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

    @Test func bitRulesReadQABits() throws {
        let rule = try MaskRule(invalidBits: [0, 1, 2, 3, 4], noDataBits: [0])
        #expect(rule.isNoData(0) && rule.isInvalid(UInt16(0)))
        #expect(rule.isNoData(1) && rule.isInvalid(UInt16(1)))
        for bit in 1...4 {
            let v = UInt16(1 << 6 | 1 << bit)
            #expect(rule.isInvalid(v) && !rule.isNoData(v), "bit \(bit)")
        }
        // Clear, snow, water and the confidence bits are valid unless listed.
        for v: UInt16 in [1 << 6, 1 << 5, 1 << 7 | 1 << 6, 0x5440 | 1 << 8] {
            #expect(!rule.isInvalid(v) && !rule.isNoData(v), "value \(v)")
        }
        let snow = try MaskRule(invalidBits: [0, 5], noDataBits: [0])
        #expect(snow.isInvalid(UInt16(1 << 5)) && !snow.isInvalid(UInt16(1 << 3)))
        #expect(throws: CompositeError.maskBitOutOfRange(16)) { try MaskRule(invalidBits: [16], noDataBits: [0]) }
        // A class rule treats values above 255 as invalid no data; class 0 is no data.
        #expect(MaskRule.sentinel2Default.isNoData(0) && !MaskRule.sentinel2Default.isNoData(9))
        #expect(MaskRule.sentinel2Default.isInvalid(UInt16(300)) && MaskRule.sentinel2Default.isNoData(300))
    }
}
