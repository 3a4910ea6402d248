/// A spec problem, reported as one line naming the field: `grid.bbox: min x 12 is not below max x 11`.
/// The CLI prints it and exits with code 2.
public struct SpecError: Error, Equatable, CustomStringConvertible {
    /// Dotted path of the offending field (`grid.bbox`, `bands[2].asset`), or "spec" for the file.
    public let field: String
    public let message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
