import CubeStore

/// Names of the metadata documents of each format.
enum MetadataKeys {
    static let v3Node = "zarr.json"
    static let v2Group = ".zgroup"
    static let v2Array = ".zarray"
    static let v2Attributes = ".zattrs"
    static let v2Consolidated = ".zmetadata"

    /// Checks a node path: "" is the root, otherwise a valid store key ("red", "a/b").
    static func validateNodePath(_ path: String) throws {
        if !path.isEmpty { try StoreKey.validate(path) }
    }
}
