import Foundation

/// A request that finally failed: a non-2xx status that is not retried or ran out of retries,
/// or a transport failure. The URL is redacted; the body is cut to its first 200 characters.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case status(Int)
        case transport(code: Int, message: String)
    }

    public var kind: Kind
    public var method: String
    public var redactedURL: String
    public var bodyPrefix: String
    public var attempts: Int
    /// Set when retries stopped because the total delay budget was spent.
    public var retryBudgetExhausted: Bool
    /// For a transport failure: whether another attempt may cure it (timeouts, resets).
    var transportTransient = false

    /// A failure of the network or the server (5xx, 429, a retryable transport error) that a
    /// later attempt may not meet, as opposed to an answer (404, 403) that will not change.
    public var isTransient: Bool {
        switch kind {
        case .status(let code): return code == 429 || code >= 500
        case .transport: return transportTransient
        }
    }

    public var status: Int? {
        if case .status(let code) = kind { return code }
        return nil
    }

    public var description: String {
        let tries = attempts > 1 ? " after \(attempts) attempts" + (retryBudgetExhausted ? " (retry delay budget spent)" : "") : ""
        switch kind {
        case .status(let code):
            let body = bodyPrefix.isEmpty ? "" : ": \(bodyPrefix)"
            return "HTTP \(code) from \(method) \(redactedURL)\(tries)\(body)"
        case .transport(let code, let message):
            return "\(method) \(redactedURL) failed\(tries): \(message) (curl \(code))"
        }
    }

    static let bodyPrefixLength = 200

    /// The start of a body as one line of text, safe to print.
    static func prefix(of body: Data) -> String {
        let head = body.prefix(bodyPrefixLength * 4)  // UTF-8 needs at most 4 bytes a character
        let text = String(decoding: head, as: UTF8.self)
        let flat = text.map { $0.isNewline || $0 == "\t" ? " " : $0 }
        let cut = String(flat.prefix(bodyPrefixLength))
        return flat.count > bodyPrefixLength ? cut + "…" : cut
    }
}
