/// Why an item is left out: a missing or mistyped field, a forbidden href, or a filter.
public enum ItemProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(String)
    case invalid(String, String)
    case forbiddenHref(asset: String, href: String)
    case filtered(String)

    public var description: String {
        switch self {
        case .missing(let field): return "missing required field \(field)"
        case .invalid(let field, let why): return "\(field) \(why)"
        case .forbiddenHref(let asset, let href): return "asset \(asset) href \(href.prefix(120)) is not allowed for this catalog"
        case .filtered(let why): return why
        }
    }
}

/// An item that did not make it, with its id (or position when it has none) and why.
public struct SkippedItem: Sendable, Equatable, CustomStringConvertible {
    public var id: String
    public var reason: String

    public init(id: String, reason: String) {
        self.id = id
        self.reason = reason
    }

    public var description: String { "\(id): \(reason)" }
}
