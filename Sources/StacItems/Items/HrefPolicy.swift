import Foundation

/// Which asset hrefs a catalog may hand us. A remote catalog is untrusted input: it may only
/// point at http(s) or s3 objects, never at files on the worker. A local catalog file is the
/// user's own and may also name local files, relative to the catalog's folder.
public enum HrefPolicy: Sendable, Equatable {
    case remote
    case local(catalogDirectory: URL)

    /// The href to use (absolute path for local files), or nil when it is not allowed.
    public func resolve(_ href: String) -> String? {
        let trimmed = href.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        if let scheme = Self.scheme(of: trimmed) {
            switch scheme {
            case "http", "https", "s3":
                guard let host = URLComponents(string: trimmed)?.host, !host.isEmpty else { return nil }
                return trimmed
            case "file":
                guard case .local = self, let url = URL(string: trimmed), url.isFileURL else { return nil }
                return url.standardizedFileURL.path
            default:
                return nil
            }
        }
        guard case .local(let dir) = self else { return nil }
        if trimmed.hasPrefix("/") { return URL(fileURLWithPath: trimmed).standardizedFileURL.path }
        return dir.appendingPathComponent(trimmed).standardizedFileURL.path
    }

    /// The lowercased URL scheme, if the text starts with one (`letter *(letter / digit / + - .) ":"`).
    static func scheme(of text: String) -> String? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let candidate = text[..<colon]
        guard let first = candidate.first, first.isASCII, first.isLetter,
              candidate.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        return candidate.lowercased()
    }
}
