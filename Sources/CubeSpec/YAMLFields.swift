import Foundation
import Yams

/// A strict reader over a parsed YAML tree: every accessor names the field it reads, so each
/// error says exactly where the spec is wrong, and unknown keys are refused.
struct Fields {
    let path: String
    private var entries: [(key: String, value: Node)] = []

    init(_ node: Node, path: String) throws {
        self.path = path
        guard case .mapping(let mapping) = node else {
            throw SpecError(path.isEmpty ? "spec" : path, "expected a mapping of keys, got \(Fields.kind(node))")
        }
        var seen = Set<String>()
        for (k, v) in mapping {
            guard case .scalar(let s) = k else {
                throw SpecError(path.isEmpty ? "spec" : path, "keys must be plain strings")
            }
            guard seen.insert(s.string).inserted else {
                throw SpecError(Fields.join(path, s.string), "key given twice")
            }
            entries.append((s.string, v))
        }
    }

    /// The dotted field path; an empty key (`'': x`) is shown as `""` so the message still names a field.
    static func join(_ path: String, _ key: String) -> String {
        let k = key.isEmpty ? "\"\"" : key
        return path.isEmpty ? k : "\(path).\(k)"
    }

    static func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "an empty value" : "'\(Fields.clip(s.string))'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    static func clip(_ s: String) -> String {
        let flat = s.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 40 ? String(flat.prefix(40)) + "…" : flat
    }

    func field(_ key: String) -> String { Fields.join(path, key) }

    func node(_ key: String) -> Node? {
        guard let v = entries.first(where: { $0.key == key })?.value else { return nil }
        if case .scalar(let s) = v, s.tag.rawValue == Tag.Name.null.rawValue || s.string == "~" { return nil }
        return v
    }

    func has(_ key: String) -> Bool { node(key) != nil }

    /// The keys as written, in order.
    var keys: [String] { entries.map(\.key) }

    /// Refuses keys the spec does not define (typos must not be silently ignored).
    func requireOnly(_ allowed: [String]) throws {
        for (key, _) in entries where !allowed.contains(key) {
            let hint = allowed.min(by: { editDistance($0, key) < editDistance($1, key) })
            let suggestion = hint.map { editDistance($0, key) <= 2 ? " (did you mean '\($0)'?)" : "" } ?? ""
            throw SpecError(field(key), "unknown key\(suggestion); allowed here: \(allowed.joined(separator: ", "))")
        }
    }

    func required(_ key: String) throws -> Node {
        guard let n = node(key) else { throw SpecError(field(key), "is required") }
        return n
    }

    func string(_ key: String) throws -> String? {
        guard let n = node(key) else { return nil }
        return try Fields.string(n, field(key))
    }

    func int(_ key: String) throws -> Int? {
        guard let n = node(key) else { return nil }
        return try Fields.int(n, field(key))
    }

    func number(_ key: String) throws -> Double? {
        guard let n = node(key) else { return nil }
        return try Fields.number(n, field(key))
    }

    static func string(_ n: Node, _ field: String) throws -> String {
        guard case .scalar(let s) = n else { throw SpecError(field, "expected a string, got \(kind(n))") }
        guard !s.string.isEmpty else { throw SpecError(field, "must not be empty") }
        return s.string
    }

    static func int(_ n: Node, _ field: String) throws -> Int {
        guard case .scalar(let s) = n, s.style == .plain, let v = Int(s.string) else {
            throw SpecError(field, "expected a whole number, got \(kind(n))")
        }
        return v
    }

    static func number(_ n: Node, _ field: String) throws -> Double {
        guard case .scalar(let s) = n, s.style == .plain else {
            throw SpecError(field, "expected a number, got \(kind(n))")
        }
        guard let v = parseNumber(s.string) else { throw SpecError(field, "expected a number, got \(kind(n))") }
        guard v.isFinite else { throw SpecError(field, "must be a finite number") }
        return v
    }

    /// Plain decimals, and simple fractions like `1/3600` (resolutions are often written so).
    static func parseNumber(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let v = Double(t), !t.lowercased().contains("nan"), !t.lowercased().contains("inf") { return v }
        let parts = t.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]), b != 0 { return a / b }
        return nil
    }

    static func list(_ n: Node, _ field: String) throws -> [Node] {
        guard case .sequence(let seq) = n else { throw SpecError(field, "expected a list, got \(kind(n))") }
        return Array(seq)
    }
}

/// Levenshtein distance, for "did you mean" hints on short keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}
