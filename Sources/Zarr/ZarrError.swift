import Foundation
import JSON

/// Failures of the Zarr layer. Store failures pass through as `StoreError`.
public enum ZarrError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// Metadata or a value does not describe a valid array (bad shape, chunk, dtype, ...).
    case invalidMetadata(String)
    /// Text that is not valid JSON.
    case invalidJSON(String)
    /// Metadata we read uses a Zarr feature this writer does not produce or understand.
    case unsupported(String)
    /// A chunk could not be encoded or decoded (corrupt, truncated, wrong size).
    case codec(String)
    /// A node that should exist (group, array metadata) is missing.
    case missing(String)

    public var description: String {
        switch self {
        case let .invalidMetadata(message): return "invalid Zarr metadata: \(message)"
        case let .invalidJSON(message): return "invalid JSON: \(message)"
        case let .unsupported(message): return "unsupported Zarr feature: \(message)"
        case let .codec(message): return "chunk codec error: \(message)"
        case let .missing(message): return "missing Zarr node: \(message)"
        }
    }

    public var errorDescription: String? { description }
}

extension JSONValue {
    /// Parses a metadata document; text that is not JSON is a `ZarrError.invalidJSON`.
    static func zarrDocument(_ data: Data) throws -> JSONValue {
        do { return try JSONValue.parse(data) } catch { throw ZarrError.invalidJSON(error.description) }
    }
}
