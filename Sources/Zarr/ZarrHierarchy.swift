import CubeStore
import Foundation
import JSON

/// Writes and reads a Zarr hierarchy (groups, arrays, chunks) in a `Store`.
///
/// Node paths are relative to the store root: "" is the root group, "red" an array in it.
/// Every object goes through `Store.put`, so each metadata document and chunk appears
/// atomically. Metadata JSON is deterministic: the same call writes the same bytes.
public struct ZarrHierarchy: Sendable {
    public let store: any Store
    public let format: ZarrFormat

    public init(store: any Store, format: ZarrFormat) {
        self.store = store
        self.format = format
    }

    /// Opens an existing hierarchy, detecting its format from the root metadata.
    public static func open(store: any Store) throws -> ZarrHierarchy {
        if try store.exists(MetadataKeys.v3Node) { return ZarrHierarchy(store: store, format: .v3) }
        if try store.exists(MetadataKeys.v2Group) || store.exists(MetadataKeys.v2Array) {
            return ZarrHierarchy(store: store, format: .v2)
        }
        throw ZarrError.missing("no Zarr root metadata (zarr.json or .zgroup) in \(store)")
    }

    // MARK: metadata

    /// Writes (or overwrites) a group's metadata.
    public func createGroup(path: String = "", attributes: [String: JSONValue] = [:]) throws {
        try MetadataKeys.validateNodePath(path)
        switch format {
        case .v3:
            let document: JSONValue = ["zarr_format": 3, "node_type": "group", "attributes": .object(attributes)]
            try store.put(StoreKey.join(path, MetadataKeys.v3Node), document.data())
        case .v2:
            try store.put(StoreKey.join(path, MetadataKeys.v2Group), JSONValue.object(["zarr_format": 2]).data())
            try store.put(StoreKey.join(path, MetadataKeys.v2Attributes), JSONValue.object(attributes).data())
        }
    }

    /// Writes (or overwrites) an array's metadata after validating it. Existing chunks stay.
    public func createArray(path: String, metadata: ArrayMetadata) throws {
        try MetadataKeys.validateNodePath(path)
        try metadata.validate(format: format)
        switch format {
        case .v3:
            try store.put(StoreKey.join(path, MetadataKeys.v3Node), metadata.v3Document().data())
        case .v2:
            let documents = metadata.v2Documents()
            try store.put(StoreKey.join(path, MetadataKeys.v2Array), documents.zarray.data())
            try store.put(StoreKey.join(path, MetadataKeys.v2Attributes), documents.zattrs.data())
        }
    }

    /// Reads an array's metadata back (from this module or zarr-python, same codecs).
    public func readArrayMetadata(path: String) throws -> ArrayMetadata {
        try MetadataKeys.validateNodePath(path)
        switch format {
        case .v3:
            let document = try readDocument(StoreKey.join(path, MetadataKeys.v3Node), what: "array \(display(path))")
            return try ArrayMetadata(v3: document)
        case .v2:
            let zarray = try readDocument(StoreKey.join(path, MetadataKeys.v2Array), what: "array \(display(path))")
            let zattrs = try store.get(StoreKey.join(path, MetadataKeys.v2Attributes)).map(JSONValue.zarrDocument)
            return try ArrayMetadata(v2: zarray, zattrs: zattrs)
        }
    }

    /// A group's attributes.
    public func readGroupAttributes(path: String = "") throws -> [String: JSONValue] {
        try MetadataKeys.validateNodePath(path)
        switch format {
        case .v3:
            let document = try readDocument(StoreKey.join(path, MetadataKeys.v3Node), what: "group \(display(path))")
            guard document["node_type"] == "group" else { throw ZarrError.invalidMetadata("\(display(path)) is not a group") }
            return document["attributes"]?.objectValue ?? [:]
        case .v2:
            _ = try readDocument(StoreKey.join(path, MetadataKeys.v2Group), what: "group \(display(path))")
            return try store.get(StoreKey.join(path, MetadataKeys.v2Attributes)).map(JSONValue.zarrDocument)?.objectValue ?? [:]
        }
    }

    // MARK: chunks

    /// The store key of a chunk, checked against the array's chunk grid.
    public func chunkKey(arrayPath: String, metadata: ArrayMetadata, chunkIndex: [Int]) throws -> String {
        try MetadataKeys.validateNodePath(arrayPath)
        return try ChunkKey.key(format: format, arrayPath: arrayPath, metadata: metadata, chunkIndex: chunkIndex)
    }

    /// Encodes one full decoded chunk (C order, little-endian, `metadata.chunkByteCount` bytes;
    /// edge chunks full size, padded with the fill value) and stores it atomically.
    public func writeChunk(arrayPath: String, metadata: ArrayMetadata, chunkIndex: [Int], bytes: UnsafeRawBufferPointer) throws {
        let key = try chunkKey(arrayPath: arrayPath, metadata: metadata, chunkIndex: chunkIndex)
        try store.put(key, try ChunkCodec.encode(bytes, metadata: metadata))
    }

    /// Typed convenience: `values` must be the array's element type, one full chunk long.
    public func writeChunk<T: ZarrScalar>(arrayPath: String, metadata: ArrayMetadata, chunkIndex: [Int], values: [T]) throws {
        try ChunkCodec.checkType(T.self, metadata)
        try values.withUnsafeBytes { bytes in
            try writeChunk(arrayPath: arrayPath, metadata: metadata, chunkIndex: chunkIndex, bytes: bytes)
        }
    }

    /// The decoded chunk, or nil when it was never written (a reader then sees the fill value,
    /// see `ArrayMetadata.filledChunk()`).
    public func readChunk(arrayPath: String, metadata: ArrayMetadata, chunkIndex: [Int]) throws -> [UInt8]? {
        let key = try chunkKey(arrayPath: arrayPath, metadata: metadata, chunkIndex: chunkIndex)
        guard let stored = try store.get(key) else { return nil }
        do {
            return try ChunkCodec.decode(stored, metadata: metadata)
        } catch let error as ZarrError {
            throw ZarrError.codec("\(key): \(error)")
        }
    }

    /// Typed convenience for `readChunk`.
    public func readChunk<T: ZarrScalar>(arrayPath: String, metadata: ArrayMetadata, chunkIndex: [Int], as type: T.Type) throws -> [T]? {
        let key = try chunkKey(arrayPath: arrayPath, metadata: metadata, chunkIndex: chunkIndex)
        guard let stored = try store.get(key) else { return nil }
        do {
            return try ChunkCodec.decode(stored, metadata: metadata, as: T.self)
        } catch let error as ZarrError {
            throw ZarrError.codec("\(key): \(error)")
        }
    }

    // MARK: helpers

    func readDocument(_ key: String, what: String) throws -> JSONValue {
        guard let data = try store.get(key) else { throw ZarrError.missing("\(what): no \(key) in \(store)") }
        do {
            return try JSONValue.zarrDocument(data)
        } catch let error as ZarrError {
            throw ZarrError.invalidMetadata("\(key): \(error)")
        }
    }

    func display(_ path: String) -> String { path.isEmpty ? "/" : path }
}
