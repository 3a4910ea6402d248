import CubeStore
import Foundation
import JSON

/// Consolidated metadata: every node's metadata in one document at the root, so readers open
/// the whole cube with one GET. Call `consolidate()` after the last metadata change.
///
/// v3 (zarr-python 3's format; not yet part of the v3 spec): the root `zarr.json` gains
///   "consolidated_metadata": {"kind": "inline", "must_understand": false,
///                             "metadata": {"<path>": <that node's zarr.json>, ...}}
/// with flat paths relative to the root, and each nested group carrying an empty inline
/// `consolidated_metadata`, exactly as zarr-python writes it.
/// v2: `.zmetadata` = {"metadata": {".zgroup": .., ".zattrs": .., "<path>/.zarray": .., ...},
///                     "zarr_consolidated_format": 1}.
extension ZarrHierarchy {
    public func consolidate() throws {
        switch format {
        case .v3: try consolidateV3()
        case .v2: try consolidateV2()
        }
    }

    /// Replaces the root group's attributes and consolidates. In v3 both land in the one put
    /// of the root `zarr.json`, so a reader never meets new attributes with old consolidated
    /// metadata, nor a root without any; v2 writes `.zattrs`, then `.zmetadata`.
    public func consolidate(rootAttributes: [String: JSONValue]) throws {
        switch format {
        case .v3: try consolidateV3(attributes: rootAttributes)
        case .v2:
            try store.put(MetadataKeys.v2Attributes, JSONValue.object(rootAttributes).data())
            try consolidateV2()
        }
    }

    private static let emptyInline: JSONValue = ["kind": "inline", "must_understand": false, "metadata": [:]]

    private func consolidateV3(attributes: [String: JSONValue]? = nil) throws {
        guard case var .object(root) = try readDocument(MetadataKeys.v3Node, what: "root group") else {
            throw ZarrError.invalidMetadata("root zarr.json is not an object")
        }
        guard root["node_type"] == "group" else { throw ZarrError.invalidMetadata("the root node is not a group") }
        if let attributes { root["attributes"] = .object(attributes) }
        var nodes: [String: JSONValue] = [:]
        try collectV3(under: "", into: &nodes)
        root["consolidated_metadata"] = ["kind": "inline", "must_understand": false, "metadata": .object(nodes)]
        try store.put(MetadataKeys.v3Node, JSONValue.object(root).data())
    }

    /// Adds every node below `group` (folders with a zarr.json; arrays are not descended into,
    /// so chunks are never listed).
    private func collectV3(under group: String, into nodes: inout [String: JSONValue]) throws {
        for folder in try store.listChildren(prefix: group).folders {
            let path = StoreKey.join(group, folder)
            guard let data = try store.get(StoreKey.join(path, MetadataKeys.v3Node)) else { continue }
            guard case var .object(node) = try parse(data, path) else {
                throw ZarrError.invalidMetadata("\(path)/zarr.json is not an object")
            }
            if node["node_type"] == "group" {
                node["consolidated_metadata"] = Self.emptyInline
                nodes[path] = .object(node)
                try collectV3(under: path, into: &nodes)
            } else {
                nodes[path] = .object(node)
            }
        }
    }

    private func consolidateV2() throws {
        var documents: [String: JSONValue] = [
            MetadataKeys.v2Group: try readDocument(MetadataKeys.v2Group, what: "root group"),
            MetadataKeys.v2Attributes: try readAttributes(""),
        ]
        try collectV2(under: "", into: &documents)
        let consolidated: JSONValue = ["metadata": .object(documents), "zarr_consolidated_format": 1]
        try store.put(MetadataKeys.v2Consolidated, consolidated.data())
    }

    private func collectV2(under group: String, into documents: inout [String: JSONValue]) throws {
        for folder in try store.listChildren(prefix: group).folders {
            let path = StoreKey.join(group, folder)
            if let zarray = try store.get(StoreKey.join(path, MetadataKeys.v2Array)) {
                documents[StoreKey.join(path, MetadataKeys.v2Array)] = try parse(zarray, path)
                documents[StoreKey.join(path, MetadataKeys.v2Attributes)] = try readAttributes(path)
            } else if let zgroup = try store.get(StoreKey.join(path, MetadataKeys.v2Group)) {
                documents[StoreKey.join(path, MetadataKeys.v2Group)] = try parse(zgroup, path)
                documents[StoreKey.join(path, MetadataKeys.v2Attributes)] = try readAttributes(path)
                try collectV2(under: path, into: &documents)
            }
        }
    }

    private func readAttributes(_ path: String) throws -> JSONValue {
        guard let data = try store.get(StoreKey.join(path, MetadataKeys.v2Attributes)) else { return [:] }
        return try parse(data, path)
    }

    private func parse(_ data: Data, _ path: String) throws -> JSONValue {
        do {
            return try JSONValue.zarrDocument(data)
        } catch let error as ZarrError {
            throw ZarrError.invalidMetadata("metadata of \(display(path)): \(error)")
        }
    }
}
