import Foundation

/// Opens the store a user named on the command line or in a spec: a local path (relative or
/// absolute, or a `file://` URL) gives a `LocalStore`; `s3://bucket/prefix` an `S3Store`
/// configured from the standard AWS environment variables and files.
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
        return try S3Store(location: trimmed, aws: AWSEnvironment.current())
    }
    if let scheme = trimmed.range(of: "://") {
        let name = trimmed[..<scheme.lowerBound]
        throw StoreError.unsupported(location: location, reason: "\(name):// stores are not supported; use a local path or s3://")
    }
    return LocalStore(root: trimmed)
}
