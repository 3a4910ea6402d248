import Foundation
import Testing
@testable import Composite

@Suite struct ValueMapTests {
    static let landsat = try! ValueMap.reflectance(scale: 0.0000275, offset: -0.2)

    /// round_half_up((DN × 0.0000275 − 0.2) × 10000) by exact decimal arithmetic, clamped.
    static func expectedLandsat(_ dn: Int) -> UInt16 {
        if dn == 0 { return 0 }
        let exact = Decimal(dn) * Decimal(string: "0.275")! - 2000  // (DN·0.0000275 − 0.2)·10000
        var up = exact + Decimal(string: "0.5")!
        var floor = Decimal()
        NSDecimalRound(&floor, &up, 0, .down)
        let v = NSDecimalNumber(decimal: floor).intValue
        return UInt16(min(max(v, 1), 65535))
    }

    @Test func landsatIsExactInIntegers() {
        #expect(Self.landsat == ValueMap(multiplier: 275, addend: -2_000_000 + 500, divisor: 1000))
        // Edge values: nodata, the clamp to 1, the first positive values, a half to round up, the top.
        let cases: [(UInt16, UInt16)] = [
            (0, 0), (1, 1), (7272, 1), (7273, 1), (7274, 1), (7275, 1), (7276, 1), (7277, 1), (7278, 1), (7279, 2),
            (7280, 2), (10000, 750), (10002, 751), (43634, 9999), (43635, 10000), (43636, 10000), (65535, 16022),
        ]
        for (dn, value) in cases {
            #expect(Self.landsat.apply(dn) == value, "DN \(dn)")
            #expect(Self.expectedLandsat(Int(dn)) == value, "DN \(dn) (decimal check)")
        }
        for dn in stride(from: 0, through: 65535, by: 7) {
            #expect(Self.landsat.apply(UInt16(dn)) == Self.expectedLandsat(dn), "DN \(dn)")
        }
    }

    @Test func sentinel2IsAShift() throws {
        #expect(try ValueMap.reflectance(scale: 0.0001, offset: -0.1) == .shift(-1000))
        #expect(try ValueMap.reflectance(scale: 0.0001, offset: 0) == .identity)
        #expect(ValueMap.shift(-1000).apply(900) == 1 && ValueMap.shift(-1000).apply(0) == 0)
        #expect(ValueMap.shift(500).apply(65500) == 65535)
    }

    @Test func inexactConversionsAreRefused() {
        for (scale, offset) in [(0.0, 0.0), (-1.0, 0.0), (Double.nan, 0.0), (1e-4, 1.23456789e-6), (1.0 / 3.0, 0.0), (10.0, 0.0)] {
            #expect(throws: CompositeError.self, "scale \(scale) offset \(offset)") {
                try ValueMap.reflectance(scale: scale, offset: offset)
            }
        }
    }

    /// The 8-lane fusion path gives exactly the scalar map, for every DN.
    @Test(arguments: [ValueMapTests.landsat, .shift(-1000), .shift(7), .identity,
                      try! ValueMap.reflectance(scale: 0.00002, offset: -0.1)])
    func laneMapEqualsScalar(map: ValueMap) {
        let lane = LaneMap(map)
        var dn = 1
        while dn <= 65535 {
            var v = Lane8(repeating: 0)
            for l in 0..<8 { v[l] = UInt16(min(dn + l, 65535)) }
            let out = lane.apply(v)
            for l in 0..<8 { #expect(out[l] == map.apply(v[l]), "DN \(v[l])") }
            dn += 8
        }
    }

    @Test func fusionAppliesTheMapsAndTheBitRule() throws {
        // QA bits: 0 fill, 3 cloud; value 0 = outside the scene (no data).
        let rule = try MaskRule(invalidBits: [0, 1, 2, 3, 4], noDataBits: [0])
        let builder = try ObservationBuilder(pixelCount: 5, bandCount: 1, maskRule: rule, fusionRule: .firstData)
        let qa: [UInt16] = [0x5440, 1, 0x5448, 0, 0x5440]   // clear, fill, cloud, outside, clear
        let dn: [UInt16] = [10000, 0, 10000, 10000, 7000]
        let filled = try dn.withUnsafeBufferPointer { b in
            try qa.withUnsafeBufferPointer { try builder.addScene(bands: [b], mask: $0, maps: [Self.landsat]) }
        }
        #expect(filled == 2)
        #expect(builder.withBand(0) { Array($0) } == [750, 0, 0, 0, 1])
        // The cloud settles the day (data, invalid); fill and outside leave room for another tile.
        let second: [UInt16] = [9000, 9000, 9000, 9000, 9000]
        let clear: [UInt16] = [0x5440, 0x5440, 0x5440, 0x5440, 0x5440]
        try second.withUnsafeBufferPointer { b in
            try clear.withUnsafeBufferPointer { _ = try builder.addScene(bands: [b], mask: $0, maps: [Self.landsat]) }
        }
        #expect(builder.withBand(0) { Array($0) } == [750, 475, 0, 475, 1])
    }
}
