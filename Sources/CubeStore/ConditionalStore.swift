import Foundation

/// A store that can replace an object only if it is still the version the writer read: the
/// compare-and-swap that moves an Icechunk branch (and any other single mutable object).
///
/// `version` is opaque: the ETag on S3, a file identity (device, inode, size, change time) on a
/// local disk. A writer reads `getVersioned`, builds the new object, then `replace(ifMatch:)`;
/// nil means another writer replaced (or deleted) the object in between and nothing was written.
public protocol ConditionalStore: Store {
    /// The object's bytes and its current version, or nil when there is no object under `key`.
    func getVersioned(_ key: String) throws -> (data: Data, version: String)?

    /// Replaces the object under `key` with `data` if its version is still `version`.
    /// Returns the new version, or nil (nothing changed) when the object is no longer that version.
    func replace(_ key: String, _ data: Data, ifMatch version: String) throws -> String?
}
