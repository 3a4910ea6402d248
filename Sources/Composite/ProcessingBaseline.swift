/// A Sentinel-2 processing baseline such as "04.00" or "05.09", compared numerically
/// (major, then minor) so "04.00" > "02.14" regardless of string padding.
public struct ProcessingBaseline: Sendable, Comparable, Hashable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses "major.minor" such as "04.00" or "4.0" (surrounding blanks allowed); anything
    /// else, e.g. the product-name form "N0400", is rejected.
    public init(parsing text: String) throws {
        let parts = text.trimmingBlanks().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let ma = Int(parts[0]), let mi = Int(parts[1]), ma >= 0, mi >= 0 else {
            throw CompositeError.invalidProcessingBaseline(text)
        }
        major = ma
        minor = mi
    }

    /// Baseline 04.00 (January 2022) introduced the -1000 DN BOA offset (BOA_ADD_OFFSET).
    public static let boaOffsetIntroduced = ProcessingBaseline(major: 4, minor: 0)

    public static func < (a: ProcessingBaseline, b: ProcessingBaseline) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    public var description: String {
        let m = minor < 10 ? "0\(minor)" : "\(minor)"
        return major < 10 ? "0\(major).\(m)" : "\(major).\(m)"
    }
}

extension String {
    /// Trims spaces, tabs and newlines without Foundation.
    func trimmingBlanks() -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else {
            return Substring()
        }
        return self[first...last]
    }
}
