import Composite
import StacItems

/// Sentinel-2 Level-2A (Earth Search `sentinel-2-l2a`, also `sentinel-2-c1-l2a`): the mask is
/// the scene classification (SCL, classes 0-255, 0 = no data); DN are reflectance × 10000,
/// with processing baseline ≥ 04.00 carrying a −1000 DN offset that `raster:bands` declares
/// (offset −0.1, scale 0.0001) and that is removed unless `earthsearch:boa_offset_applied`.
public struct Sentinel2L2A: SensorProfile {
    public init() {}
    public var id: String { "sentinel-2-l2a" }
    public var shortName: String { "sentinel2" }
    public var title: String { "Sentinel-2 L2A" }

    public func reads(collection: String) -> Bool {
        collection.hasPrefix("sentinel-2") && collection.hasSuffix("l2a")
    }

    /// uint16 DN (reflectance × 10000, shifted by `valueMap`), the SCL mask.
    public var valueDomain: ValueDomain { .reflectance(source: .uint16, maskAsset: "scl") }
    public var maskVocabulary: String { "SCL classes 0-255" }
    public var defaultInvalid: [Int] { MaskRule.defaultInvalidClasses.map(Int.init) }

    public func maskCode(_ text: String) -> Int? {
        guard let v = Int(text), (0...255).contains(v) else { return nil }
        return v
    }

    public func maskRule(invalid: [Int]) throws -> MaskRule { try MaskRule(invalidClasses: invalid) }

    /// Every asset key of the item as is (red, nir, nir08, rededge1, ...).
    public func asset(forBand name: String) -> String? { name }

    /// DN + round(offset / scale), as the harmonisation rule has always done (docs/compositing.md).
    public func valueMap(item: StacItem, asset: StacAsset) throws -> ValueMap {
        .shift(Int32(asset.harmonisationShiftDN))
    }
}
