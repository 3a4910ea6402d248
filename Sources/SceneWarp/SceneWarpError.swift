import GDALKit
import HTTPClient

/// Why an asset could not be read onto a target grid. The message always names the href, so a
/// failed job log points at the offending scene.
public struct SceneWarpError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// Missing, unreachable (404, network) or not a raster GDAL recognises.
        case open
        /// No geotransform or no CRS.
        case notGeoreferenced
        /// Rotated/sheared geotransform or a raster too large for 32-bit indices.
        case unsupportedGeoreferencing
        /// The file's CRS is not the one the catalogue announced.
        case crsMismatch
        /// PROJ cannot transform between the target and the source CRS.
        case transform
        /// Decoding failed (truncated file, corrupt tiles, network error mid-read).
        case read
        /// The object changed since its header was indexed (size or ETag differ, or a tile
        /// does not decode with the indexed layout): plan it again from a fresh header.
        case stale
    }

    public let kind: Kind
    public let href: String
    public let reason: String
    /// The network or the server failed (not the data): another attempt may succeed, so the
    /// job fails and is retried rather than skipping the scene. Set from the cause's type.
    public let isTransient: Bool

    /// `cause`: the error being wrapped, whose type says whether it is transient.
    public init(_ kind: Kind, href: String, _ reason: String, cause: (any Error)? = nil) {
        self.kind = kind
        self.href = href
        self.reason = reason
        self.isTransient = cause.map(Self.isTransient) ?? false
    }

    /// Whether `error` (from GDAL, the tile reader or the HTTP client) is a transient failure.
    static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let e as SceneWarpError: return e.isTransient
        case let e as TileDecodeError: return e.isTransient
        case let e as GDALError: return e.isTransient
        case let e as HTTPError: return e.isTransient
        case let e as TransportError: return e.isRetryable
        default: return false
        }
    }

    public var description: String { "\(href): \(reason)" }
}
