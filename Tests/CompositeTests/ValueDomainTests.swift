import Composite
import Testing

@Suite struct ValueDomainTests {
    let dem = ValueDomain(sourceType: .float32, sourceNoData: -9999, conversion: .quantise, scaleFactor: 0.1,
                          addOffset: -1000, units: "m", quantity: "elevation", maskAsset: nil)

    @Test func quantisesToTheNearestStep() {
        #expect(dem.quantise(0) == 10000)           // (0 + 1000) / 0.1
        #expect(dem.quantise(123.44) == 11234)
        #expect(dem.quantise(123.46) == 11235)
        #expect(dem.quantise(-1000) == 1)           // would be 0 = no data: clamped to 1
        #expect(dem.quantise(-5000) == 1)
        #expect(dem.quantise(9_000) == 65535)       // above the range: clamped
    }

    @Test func noDataNaNAndInfinityAreZero() {
        #expect(dem.quantise(-9999) == 0)
        #expect(dem.quantise(.nan) == 0)
        #expect(dem.quantise(.infinity) == 0)
    }

    @Test func planeLoopEqualsTheScalarOneAndHonoursTheFilesNoData() {
        let xs: [Float] = [0, 123.44, .nan, -9999, 42, -1000, 7000]
        var out = [UInt16](repeating: 7, count: xs.count)
        xs.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dem.quantise(src, into: $0, noData: 42) } }
        // The file's nodata (42) replaces the domain's (-9999), which is then a low value (clamped to 1).
        #expect(out == [10000, 11234, 0, 1, 0, 1, 65535])
    }

    @Test func reflectanceDomainsPoolButOthersDoNot() {
        let s2 = ValueDomain.reflectance(source: .uint16, maskAsset: "scl")
        let ls = ValueDomain.reflectance(source: .uint16, maskAsset: "qa_pixel")
        #expect(s2.sameCubeValues(ls))
        #expect(!s2.sameCubeValues(dem))
        #expect(s2.scaleFactor == 0.0001 && s2.addOffset == 0 && s2.units == "1")
    }
}
