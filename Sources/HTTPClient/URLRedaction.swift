import Foundation

/// Removes credentials from a URL before it goes into an error or a log: user info, and the
/// values of query parameters that look like secrets (presigned S3 signatures, tokens, keys).
public enum URLRedaction {
    static let secretNameParts = ["token", "key", "sig", "secret", "password", "passwd",
                                  "credential", "auth", "session", "code"]

    public static func redact(_ url: URL) -> String { redact(url.absoluteString) }

    public static func redact(_ text: String) -> String {
        guard var parts = URLComponents(string: text) else { return "<unparseable URL>" }
        if parts.user != nil || parts.password != nil {
            parts.user = "REDACTED"
            parts.password = nil
        }
        if let items = parts.queryItems {
            parts.queryItems = items.map { item in
                let name = item.name.lowercased()
                let secret = secretNameParts.contains { name.contains($0) }
                return secret && item.value != nil ? URLQueryItem(name: item.name, value: "REDACTED") : item
            }
        }
        return parts.string ?? "<unparseable URL>"
    }
}
