import Foundation

/// A key/value object store under every stage of the pipeline.
///
/// Keys are "/"-separated paths relative to the store root (`red/c/0/3/7`, `_cube/plan.json`);
/// every implementation validates them with `StoreKey.validate` first.
/// The contract is the subset an object store offers natively, so an S3 store can implement it
/// with single PUTs (`put`), conditional PUTs with `If-None-Match: *` (`createIfAbsent`),
/// ListObjectsV2 (`list`, `listChildren` with a delimiter), GET, HEAD and DELETE.
public protocol Store: AnyObject, Sendable, CustomStringConvertible {
    /// The object's bytes, or nil when there is no object under `key`.
    func get(_ key: String) throws -> Data?

    /// Stores `data` under `key`, replacing any previous object. Atomic: a reader, or the store
    /// after a crash, sees either the old object or the complete new one, never a partial one.
    func put(_ key: String, _ data: Data) throws

    /// Stores `data` under `key` only if no object exists there yet. Returns false (and changes
    /// nothing) when it already existed. When several writers race, exactly one gets true.
    func createIfAbsent(_ key: String, _ data: Data) throws -> Bool

    /// Whether an object exists under `key`.
    func exists(_ key: String) throws -> Bool

    /// All object keys below `prefix`, recursively and sorted. `prefix` names a folder
    /// ("_cube/done" or "_cube/done/" list the same keys); "" lists the whole store.
    /// The returned keys are full keys relative to the store root.
    func list(prefix: String) throws -> [String]

    /// One level of the tree below the folder `prefix` (like a delimiter listing on S3):
    /// the names of the objects directly in it and of its sub-folders, each sorted.
    func listChildren(prefix: String) throws -> StoreChildren

    /// Removes the object under `key`. Deleting a missing object is not an error.
    func delete(_ key: String) throws
}

/// One level of a store folder: object names and sub-folder names (not full keys), sorted.
public struct StoreChildren: Equatable, Sendable {
    public var objects: [String]
    public var folders: [String]

    public init(objects: [String], folders: [String]) {
        self.objects = objects
        self.folders = folders
    }
}

extension Store {
    /// Generic fallback built on `list`; stores with a cheaper native listing override it.
    public func listChildren(prefix: String) throws -> StoreChildren {
        let folder = try StoreKey.folderPrefix(prefix)
        var objects: [String] = []
        var folders = Set<String>()
        for key in try list(prefix: prefix) {
            let rest = key.dropFirst(folder.count)
            if let slash = rest.firstIndex(of: "/") {
                folders.insert(String(rest[..<slash]))
            } else {
                objects.append(String(rest))
            }
        }
        return StoreChildren(objects: objects.sorted(), folders: folders.sorted())
    }
}
