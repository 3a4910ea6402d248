import Composite
import StacItems

/// Landsat Collection 2 Level-2 surface reflectance (Earth Search `landsat-c2-l2`; Landsat 4-5
/// TM, 7 ETM+, 8-9 OLI): the mask is `qa_pixel` (16 bit fields, USGS LSDS-1619); DN become
/// reflectance by `raster:bands` scale 0.0000275 and offset −0.2, so the cube value is
/// round_half_up((DN × 0.0000275 − 0.2) × 10000), in integers. Landsat 7's SLC-off gaps are
/// fill (bit 0) with DN 0: no data.
public struct LandsatC2L2: SensorProfile {
    public init() {}
    public var id: String { "landsat-c2-l2" }
    public var shortName: String { "landsat" }
    public var title: String { "Landsat Collection 2 Level-2" }

    public func reads(collection: String) -> Bool { collection.hasPrefix("landsat-c2") && collection.contains("l2") }

    /// uint16 DN (to reflectance × 10000 by `valueMap`), the qa_pixel mask.
    public var valueDomain: ValueDomain { .reflectance(source: .uint16, maskAsset: "qa_pixel") }

    /// qa_pixel bits by name (the `classification:bitfields` names Earth Search uses).
    public static let bits: [(name: String, bit: Int)] = [
        ("fill", 0), ("dilated_cloud", 1), ("cirrus", 2), ("cloud", 3), ("cloud_shadow", 4),
        ("snow", 5), ("clear", 6), ("water", 7),
    ]
    public var maskVocabulary: String {
        "QA bits 0-15 or " + Self.bits.map(\.name).joined(separator: ", ")
    }
    /// Fill, dilated cloud, cirrus, cloud and cloud shadow.
    public var defaultInvalid: [Int] { [0, 1, 2, 3, 4] }

    public func maskCode(_ text: String) -> Int? {
        if let v = Int(text) { return (0...15).contains(v) ? v : nil }
        return Self.bits.first { $0.name == text.lowercased() }?.bit
    }

    /// A value of 0 (outside the scene) or with the fill bit is no data whatever the spec lists.
    public func maskRule(invalid: [Int]) throws -> MaskRule { try MaskRule(invalidBits: invalid, noDataBits: [0]) }

    /// Reflective bands by common name; `nir` is `nir08` (OLI band 5, TM/ETM+ band 4).
    static let assets = ["coastal", "blue", "green", "red", "nir08", "swir16", "swir22"]
    public func asset(forBand name: String) -> String? {
        if name == "nir" { return "nir08" }
        return Self.assets.contains(name) ? name : nil
    }

    /// When the asset declares `classification:bitfields` (Earth Search does), every bit the
    /// rule reads must sit where the profile reads it, as a one-bit field of the same name: a
    /// provider with another layout would otherwise have its clouds read as clear.
    public func checkMask(_ asset: StacAsset, invalid: [Int]) throws {
        guard !asset.bitfields.isEmpty else { return }
        for bit in Set(invalid + [0]).sorted() {
            guard let name = Self.bits.first(where: { $0.bit == bit })?.name,
                  let declared = asset.bitfields.first(where: { $0.name == name }) else { continue }
            guard declared.offset == bit, declared.length == 1 else {
                throw MaskLayoutError(description: "qa_pixel classification:bitfields puts '\(name)' at bit \(declared.offset) (length \(declared.length)); the \(id) profile reads bit \(bit)")
            }
        }
    }

    public func valueMap(item: StacItem, asset: StacAsset) throws -> ValueMap {
        let band = asset.bands.first
        return try ValueMap.reflectance(scale: band?.scale ?? 0.0000275, offset: band?.offset ?? -0.2)
    }
}
