/// Key rules shared by every store, so nothing can ever be written outside the store root
/// and a key means the same object on a local disk and on S3.
public enum StoreKey {
    /// Marker in the names of in-flight temporary files; keys may not contain it, so a
    /// temporary file can never be mistaken for (or collide with) an object.
    public static let temporaryMarker = ".__cube_tmp."

    /// Longest path segment (NAME_MAX on Linux and macOS).
    static let maxSegmentBytes = 255

    /// Throws `StoreError.invalidKey` unless `key` is a non-empty relative path of non-empty
    /// segments without "..", ".", backslashes, NUL or other control characters.
    public static func validate(_ key: String) throws {
        func reject(_ reason: String) -> StoreError { .invalidKey(key: key, reason: reason) }
        if key.isEmpty { throw reject("the key is empty") }
        if key.hasPrefix("/") { throw reject("the key must be relative (no leading \"/\")") }
        if key.hasSuffix("/") { throw reject("the key must not end with \"/\"") }
        if key.contains("//") { throw reject("the key contains an empty segment (\"//\")") }
        if key.contains("..") { throw reject("the key must not contain \"..\"") }
        if key.contains(temporaryMarker) { throw reject("the key contains the reserved marker \(temporaryMarker)") }
        for scalar in key.unicodeScalars {
            if scalar == "\\" { throw reject("the key contains a backslash") }
            if scalar.value < 0x20 || scalar.value == 0x7F { throw reject("the key contains a control character") }
        }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            if segment == "." { throw reject("the key contains a \".\" segment") }
            if segment.utf8.count > maxSegmentBytes {
                throw reject("a segment is longer than \(maxSegmentBytes) bytes")
            }
        }
    }

    /// Normalises a folder prefix: "" stays "" (the whole store); otherwise the validated
    /// folder with exactly one trailing "/", e.g. "_cube/done" → "_cube/done/".
    public static func folderPrefix(_ prefix: String) throws -> String {
        if prefix.isEmpty { return "" }
        let folder = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        try validate(folder)
        return folder + "/"
    }

    /// Joins key segments with "/", skipping empty ones ("" + "zarr.json" → "zarr.json").
    public static func join(_ parts: String...) -> String {
        parts.filter { !$0.isEmpty }.joined(separator: "/")
    }
}
