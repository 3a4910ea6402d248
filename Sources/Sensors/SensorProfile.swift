import Composite
import Foundation
import StacItems

/// Everything about one sensor's products that the cube depends on, chosen per STAC
/// collection: which asset is the mask and what its values mean, which asset holds a band,
/// and how raw values become the cube's values (surface reflectance × 10000 as uint16). The
/// fusion and reduce stages only see the mask rule's flags and the value maps, so adding a
/// sensor is one file here plus a line in `SensorProfiles.all`.
public protocol SensorProfile: Sendable {
    /// The Earth Search collection it models, and its name in specs ("landsat-c2-l2").
    var id: String { get }
    /// Short name for per-sensor arrays (`count_<shortName>`) and logs ("landsat").
    var shortName: String { get }
    /// What the data are, for metadata ("Landsat Collection 2 Level-2").
    var title: String { get }
    /// True when this profile reads items of `collection`.
    func reads(collection: String) -> Bool

    /// What its values are: source sample type, conversion, the cube's scale, offset, units
    /// and whether there is a mask asset (`ValueDomain`).
    var valueDomain: ValueDomain { get }
    /// The mask asset by default ("scl", "qa_pixel"); nil: none (every pixel with data is
    /// valid). `valueDomain.maskAsset` unless a profile says otherwise.
    var maskAsset: String? { get }
    /// What `mask.invalid` lists: "SCL classes 0-255", "QA bits 0-15 or names".
    var maskVocabulary: String { get }
    /// The default `mask.invalid` (class or bit numbers).
    var defaultInvalid: [Int] { get }
    /// One `mask.invalid` entry as written (a number or a name) → its class or bit number.
    func maskCode(_ text: String) -> Int?
    /// The rule for these invalid classes or bits.
    func maskRule(invalid: [Int]) throws -> MaskRule

    /// The asset key holding band `name` (a common name such as "nir"), nil when the sensor lacks it.
    func asset(forBand name: String) -> String?
    /// How one asset's DN become cube values.
    func valueMap(item: StacItem, asset: StacAsset) throws -> ValueMap
    /// Checks a scene's mask asset against the rule before it is used (e.g. its declared bit
    /// layout); throws, naming the mismatch, when the rule would misread it.
    func checkMask(_ asset: StacAsset, invalid: [Int]) throws
}

extension SensorProfile {
    public func checkMask(_ asset: StacAsset, invalid: [Int]) throws {}
    public var maskAsset: String? { valueDomain.maskAsset }
}

/// Why a scene's mask cannot be read with its profile's rule.
public struct MaskLayoutError: Error, CustomStringConvertible {
    public let description: String
}

/// The built-in profiles.
public enum SensorProfiles {
    public static let all: [any SensorProfile] = [Sentinel2L2A(), LandsatC2L2()] + testProfiles

    /// Profiles for the end-to-end tests only, registered when `CUBE_TEST_SENSORS=1`.
    static var testProfiles: [any SensorProfile] {
        ProcessInfo.processInfo.environment["CUBE_TEST_SENSORS"] == "1" ? [TestFloat32DEM()] : []
    }

    /// The profile of `id` ("sentinel-2-l2a").
    public static func named(_ id: String) -> (any SensorProfile)? { all.first { $0.id == id } }

    /// The profile reading items of `collection`.
    public static func reading(collection: String) -> (any SensorProfile)? { all.first { $0.reads(collection: collection) } }

    public static var ids: String { all.map(\.id).joined(separator: ", ") }
}
