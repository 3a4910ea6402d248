import Foundation
import JSON
import StacItems

/// Reads items from a local file: a STAC ItemCollection, a single Feature, or
/// newline-delimited items (one JSON object a line).
enum LocalCatalog {
    /// Every feature with a label for logs (`line 7` or `feature 7`), or a per-line problem.
    static func features(path: String) throws -> [(label: String, value: Result<JSONValue, ItemProblem>)] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw StacSearchError.catalogFile(path: path, why: "cannot be read (\(error.localizedDescription))")
        }
        let lower = path.lowercased()
        let lineDelimited = lower.hasSuffix(".ndjson") || lower.hasSuffix(".jsonl") || lower.hasSuffix(".geojsonl")
        if !lineDelimited, let doc = try? JSONValue.parse(data) {
            return try features(of: doc, path: path)
        }
        return lines(data)
    }

    private static func features(of doc: JSONValue, path: String) throws -> [(label: String, value: Result<JSONValue, ItemProblem>)] {
        switch doc["type"]?.stringValue {
        case "FeatureCollection"?:
            guard let list = doc["features"]?.arrayValue else {
                throw StacSearchError.catalogFile(path: path, why: "FeatureCollection without a features list")
            }
            return list.enumerated().map { ("feature \($0.offset + 1)", .success($0.element)) }
        case "Feature"?:
            return [("feature 1", .success(doc))]
        default:
            throw StacSearchError.catalogFile(path: path, why: "is neither a FeatureCollection, a Feature nor ndjson")
        }
    }

    private static func lines(_ data: Data) -> [(label: String, value: Result<JSONValue, ItemProblem>)] {
        var out: [(label: String, value: Result<JSONValue, ItemProblem>)] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard line.contains(where: { $0 != 32 && $0 != 9 && $0 != 13 }) else { continue }
            let label = "line \(lineNumber)"
            if let value = try? JSONValue.parse(Data(line)) {
                out.append((label, .success(value)))
            } else {
                out.append((label, .failure(.invalid("line", "is not JSON"))))
            }
        }
        return out
    }
}
