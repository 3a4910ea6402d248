import Foundation
import Synchronization

/// What a command does with the store it opens; a store with versions (an Icechunk
/// repository) serves each differently, a plain store serves all alike.
public enum StoreAccess: Sendable, Equatable {
    /// Build into it, making it first when it does not exist yet (`cube init`, `cube run SPEC`).
    case create
    /// Build into an existing one (`cube run STORE`, `cube update`, `cube worker`): reads see
    /// the session's own writes on top of the latest version.
    case write
    /// Only read (`cube status`, `preview`, `serve`, `log`): the latest published version, or
    /// the version named (a snapshot id or tag) for a store that keeps versions.
    case read(version: String?)
}

/// One kind of store location, picked by its scheme (`s3://`, `icechunk:`), as zarrs
/// registers a store per scheme: a new kind is one file and one `register` call.
public struct StoreKind: Sendable {
    /// The location's prefix, lower case, that selects this kind ("s3://", "icechunk:").
    public let scheme: String
    /// What the kind is, for error messages ("an Icechunk repository").
    public let summary: String
    public let open: @Sendable (_ location: String, _ access: StoreAccess) throws -> any Store

    public init(scheme: String, summary: String, open: @escaping @Sendable (String, StoreAccess) throws -> any Store) {
        self.scheme = scheme.lowercased()
        self.summary = summary
        self.open = open
    }
}

/// The store kinds this program knows. Plain folders and `file://` URLs are the fallback;
/// `s3://` is built in; other modules (Icechunk) register theirs at startup.
public enum StoreRegistry {
    private static let kinds = Mutex<[StoreKind]>([
        StoreKind(scheme: "s3://", summary: "an S3 bucket prefix") { location, access in
            try refuseVersion(location, access)
            return try S3Store(location: location, aws: AWSEnvironment.current())
        },
        StoreKind(scheme: "file://", summary: "a local folder") { location, access in
            try refuseVersion(location, access)
            let path = String(location.dropFirst("file://".count))
            guard path.hasPrefix("/") else {
                throw StoreError.unsupported(location: location, reason: "a file:// URL needs an absolute path (file:///data/cube.zarr)")
            }
            return LocalStore(root: path)
        },
    ])

    /// Adds (or replaces) the kind for `kind.scheme`.
    public static func register(_ kind: StoreKind) {
        kinds.withLock { list in
            list.removeAll { $0.scheme == kind.scheme }
            list.append(kind)
        }
    }

    public static var schemes: [String] { kinds.withLock { $0.map(\.scheme) } }

    /// Whether a location names a registered kind (s3://, icechunk:, ...), not a local path.
    public static func isRegistered(_ location: String) -> Bool { kind(for: location.trimmingCharacters(in: .whitespaces)) != nil }

    static func kind(for location: String) -> StoreKind? {
        let lower = location.lowercased()
        return kinds.withLock { $0.first { lower.hasPrefix($0.scheme) } }
    }

    /// A plain store cannot show an earlier version: say so rather than show the latest.
    public static func refuseVersion(_ location: String, _ access: StoreAccess) throws {
        if case .read(let version?) = access {
            throw StoreError.unsupported(location: location, reason: "it keeps no versions, so there is no version \(version) to read (only icechunk: stores keep versions)")
        }
    }
}

/// Opens the store a user named on the command line or in a spec: a local path (relative or
/// absolute, or a `file://` URL) gives a `LocalStore`; `s3://bucket/prefix` an `S3Store`
/// configured from the standard AWS environment variables and files; a registered scheme
/// (`icechunk:PATH`) its own kind.
public func openStore(_ location: String, access: StoreAccess = .write) throws -> any Store {
    let trimmed = location.trimmingCharacters(in: .whitespaces)
    guard !trimmed.isEmpty else {
        throw StoreError.unsupported(location: location, reason: "the store location is empty")
    }
    if let kind = StoreRegistry.kind(for: trimmed) { return try kind.open(trimmed, access) }
    if trimmed.lowercased().hasPrefix("icechunk:") {
        throw StoreError.unsupported(location: location, reason: "this program was built without icechunk: stores")
    }
    if let scheme = trimmed.range(of: "://") {
        let name = trimmed[..<scheme.lowerBound]
        let known = StoreRegistry.schemes.filter { $0 != "file://" }.joined(separator: ", ")
        throw StoreError.unsupported(location: location, reason: "\(name):// stores are not supported; use a local path or one of \(known)")
    }
    try StoreRegistry.refuseVersion(trimmed, access)
    return LocalStore(root: trimmed)
}
