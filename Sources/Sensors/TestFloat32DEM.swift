import Composite
import StacItems

/// A test-only sensor (`CUBE_TEST_SENSORS=1`): a float32 elevation model in metres with no
/// mask asset, to show a sensor outside Sentinel-2's value domain is one file. Its samples are
/// quantised into the uint16 store at 0.1 m from −1000 m: stored = round((x + 1000) / 0.1)
/// (0 = no data; NaN and −9999 in the source are no data). Its cube is float32: the statistics
/// reduce the stored values, then each plane is decoded to Float(Double(stored) × 0.1 + (−1000))
/// metres, NaN where there is no observation.
public struct TestFloat32DEM: SensorProfile {
    public init() {}
    public var id: String { "test-float32-dem" }
    public var shortName: String { "dem" }
    public var title: String { "Test float32 DEM" }
    public func reads(collection: String) -> Bool { collection == id }

    public var valueDomain: ValueDomain {
        ValueDomain(sourceType: .float32, sourceNoData: -9999, conversion: .quantise, scaleFactor: 0.1,
                    addOffset: -1000, units: "m", quantity: "elevation", maskAsset: nil, cubeType: .float32)
    }

    // No mask: nothing to list as invalid.
    public var maskVocabulary: String { "nothing (the sensor has no mask)" }
    public var defaultInvalid: [Int] { [] }
    public func maskCode(_ text: String) -> Int? { nil }
    /// Valid wherever the stored value is nonzero (the data plane stands in for the mask).
    public func maskRule(invalid: [Int]) throws -> MaskRule { try MaskRule(invalidBits: [], noDataBits: []) }

    public func asset(forBand name: String) -> String? { name == "elevation" ? "elevation" : nil }

    /// The reader already quantised the samples (`ValueDomain.quantise`).
    public func valueMap(item: StacItem, asset: StacAsset) throws -> ValueMap { .identity }
}
