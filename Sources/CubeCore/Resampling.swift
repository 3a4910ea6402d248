/// How a source raster is sampled at a target pixel's centre: the spec names it, the scene
/// reader applies it. Here, beside the GDAL wrappers, because both the spec (upstream) and the
/// warp (downstream) use it and neither should import the other for one enum.
public enum Resampling: String, Equatable, Sendable, CaseIterable {
    case nearest, bilinear, average
}

/// Which overview level of a COG a scene asset is read from (`overviews:` in the spec), beside
/// `Resampling` for the same reason.
///
/// - `none`: full resolution (level 0), always.
/// - `auto`: per asset and chunk, the coarsest level whose pixel size is at most the target
///   pixel's smaller side, both measured in the scene's CRS at the chunk's centre.
/// - `level(n)`: level n (1 = the first overview), or the coarsest the file has.
public enum Overviews: Equatable, Sendable, CustomStringConvertible {
    case none
    case auto
    case level(Int)

    public var description: String {
        switch self {
        case .none: return "none"
        case .auto: return "auto"
        case .level(let n): return "\(n)"
        }
    }

    /// "none", "auto" or a whole number (0 is `none`).
    public init?(_ text: String) {
        switch text.lowercased() {
        case "none", "off", "false": self = .none
        case "auto": self = .auto
        default:
            guard let n = Int(text), n >= 0 else { return nil }
            self = n == 0 ? .none : .level(n)
        }
    }
}
