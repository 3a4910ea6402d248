import Composite
import Foundation
import Sensors
import Testing

@Suite struct ValueDomainProfileTests {
    @Test func reflectanceSensorsDeclareTheirDomain() {
        for (profile, mask) in [(Sentinel2L2A() as any SensorProfile, "scl"), (LandsatC2L2(), "qa_pixel")] {
            let d = profile.valueDomain
            #expect(d.sourceType == .uint16 && d.conversion == .valueMap)
            #expect(d.scaleFactor == 0.0001 && d.addOffset == 0 && d.units == "1" && d.cubeType == .uint16)
            #expect(d.maskAsset == mask && profile.maskAsset == mask)
        }
    }

    @Test func theFloatTestProfileHasNoMaskAndIsRegisteredOnlyForTests() throws {
        let dem = TestFloat32DEM()
        #expect(dem.maskAsset == nil && dem.valueDomain.sourceType == .float32)
        #expect(dem.valueDomain.conversion == .quantise && dem.valueDomain.units == "m" && dem.valueDomain.cubeType == .float32)
        #expect(!dem.valueDomain.sameCubeValues(Sentinel2L2A().valueDomain))
        let registered = SensorProfiles.reading(collection: "test-float32-dem") != nil
        #expect(registered == (ProcessInfo.processInfo.environment["CUBE_TEST_SENSORS"] == "1"))
        // Valid wherever the data plane has a value.
        let rule = try dem.maskRule(invalid: [])
        #expect(rule.isInvalid(UInt16(0)) && rule.isNoData(UInt16(0)))
        #expect(!rule.isInvalid(UInt16(1)) && !rule.isInvalid(UInt16(65535)))
    }
}
