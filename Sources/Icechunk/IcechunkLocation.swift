import CubeStore
import Foundation

extension IcechunkStore {
    /// `icechunk:` locations: `icechunk:PATH` (a folder), `icechunk:file:///abs/path`,
    /// `icechunk:s3://bucket/prefix` (the standard AWS environment, as for `s3://` stores).
    public static let kind = StoreKind(scheme: "icechunk:", summary: "an Icechunk repository") { location, access in
        try IcechunkStore.open(location, access: access)
    }

    /// Registers `icechunk:` with `openStore` (the CLI does at startup).
    public static func register() { StoreRegistry.register(kind) }

    /// The storage under an `icechunk:` location.
    static func storage(_ location: String) throws -> any ConditionalStore {
        let inner = String(location.dropFirst("icechunk:".count))
        guard !inner.isEmpty else {
            throw StoreError.unsupported(location: location, reason: "icechunk: needs a folder or an s3:// URL after it (icechunk:/data/cube.icechunk)")
        }
        if inner.lowercased().hasPrefix("icechunk:") {
            throw StoreError.unsupported(location: location, reason: "icechunk: is given twice")
        }
        let store = try openStore(inner)
        guard let conditional = store as? any ConditionalStore else {
            throw StoreError.unsupported(location: location, reason: "\(inner) cannot replace an object conditionally, which moving a branch needs")
        }
        return conditional
    }

    /// Opens (or, for `.create`, makes when absent) the repository at an `icechunk:` location.
    public static func open(_ location: String, access: StoreAccess) throws -> IcechunkStore {
        let storage = try storage(location)
        let repository: IcechunkRepository
        if try storage.exists("repo") {
            do { repository = try IcechunkRepository.open(storage: storage) } catch {
                throw StoreError.unsupported(location: location, reason: "its repo object is not readable as Icechunk spec version 2: \(error)")
            }
        } else {
            guard access == .create else {
                throw StoreError.unsupported(location: location, reason: "there is no Icechunk repository there (no repo object); `cube init SPEC` makes one")
            }
            guard try storage.list(prefix: "").isEmpty else {
                throw StoreError.unsupported(location: location, reason: "it holds objects but no Icechunk repository (no repo object); give an empty folder or prefix")
            }
            do { repository = try IcechunkRepository.create(storage: storage) } catch IcechunkError.alreadyExists {
                // Another process made it in between: use theirs.
                repository = try IcechunkRepository.open(storage: storage)
            }
        }
        switch access {
        case .create, .write:
            return IcechunkStore(repository: repository, location: location, mode: .write)
        case .read(nil):
            return IcechunkStore(repository: repository, location: location, mode: .read(pinned: nil))
        case .read(let version?):
            return IcechunkStore(repository: repository, location: location, mode: .read(pinned: try repository.resolve(version)))
        }
    }
}

extension IcechunkRepository {
    /// The snapshot a user names: a tag, a branch, or a snapshot id the repository lists.
    public func resolve(_ version: String) throws -> ObjectId12 {
        let info = try info()
        if let id = info.tags[version] { return id }
        if let id = info.branches[version] { return id }
        if let id = ObjectId12(version.uppercased()), info.snapshot(id) != nil { return id }
        let tags = info.tags.keys.sorted()
        throw IcechunkError.notFound("no snapshot, tag or branch named \(version) in the repository" + (tags.isEmpty ? " (it has no tags)" : " (tags: \(tags.joined(separator: ", ")))"))
    }
}
