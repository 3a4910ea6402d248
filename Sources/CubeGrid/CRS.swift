import Foundation
import GDALKit

/// A grid CRS: the definition the user gave plus its resolved spatial reference.
/// Equal when the definitions are equal (`EPSG:32632` and its WKT are different specs).
public final class CRS: Equatable, Sendable, Codable, CustomStringConvertible {
    public let definition: String
    public let reference: SpatialReference

    public init(_ definition: String) throws {
        self.definition = definition
        self.reference = try SpatialReference(definition)
    }

    public static let lonLat: CRS = try! CRS("EPSG:4326")

    public static func == (a: CRS, b: CRS) -> Bool { a.definition == b.definition }

    public var isGeographic: Bool { reference.isGeographic }
    public var epsg: Int? { reference.epsgCode }
    public var description: String { epsg.map { "EPSG:\($0)" } ?? definition }

    public convenience init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(definition)
    }

    /// An exact transformation to `other` (thread-confined: make one per thread).
    public func transform(to other: CRS) throws -> CoordinateTransform {
        try CoordinateTransform(from: reference, to: other.reference)
    }
}
