import Foundation

/// Opens the store a user named on the command line or in a spec: a local path (relative or
/// absolute, or a `file://` URL) gives a `LocalStore`; object-store URLs are not supported yet.
public func openStore(_ location: String) throws -> any Store {
    let trimmed = location.trimmingCharacters(in: .whitespaces)
    guard !trimmed.isEmpty else {
        throw StoreError.unsupported(location: location, reason: "the store location is empty")
    }
    if trimmed.hasPrefix("file://") {
        let path = String(trimmed.dropFirst("file://".count))
        guard path.hasPrefix("/") else {
            throw StoreError.unsupported(location: location, reason: "a file:// URL needs an absolute path (file:///data/cube.zarr)")
        }
        return LocalStore(root: path)
    }
    if trimmed.lowercased().hasPrefix("s3://") {
        throw StoreError.unsupported(location: location, reason: "S3 stores are not supported yet; use a local path")
    }
    if let scheme = trimmed.range(of: "://") {
        let name = trimmed[..<scheme.lowerBound]
        throw StoreError.unsupported(location: location, reason: "\(name):// stores are not supported; use a local path")
    }
    return LocalStore(root: trimmed)
}
