/// The reducer extension point: a statistic declares the arrays it writes and reduces the
/// observations of a window into them. Two kinds exist, because they want different loops:
///
/// - `OrderStatistic`: one value per band and pixel from that band's valid values. The reducer
///   sorts each 8-pixel block once and every order statistic reads the sorted block, so
///   `[median, p10, p90]` costs one sort, not three.
/// - `PixelStatistic`: looks at all bands of a pixel at once (the geomedian and its MADs).
///
/// A new statistic is one file: a type conforming to one of the two, plus a line in
/// `Statistics.parse`.
public protocol CompositeStatistic: Sendable {
    /// Canonical name, as the spec spells it ("median", "p10", "geomedian").
    var name: String { get }
    /// The arrays written for `bands`. `several` is true when the cube has more than one
    /// statistic (per-band arrays are then suffixed `_<name>`).
    func outputs(bands: [String], several: Bool) -> [OutputDeclaration]
}

/// The element type of an output array.
public enum OutputType: String, Sendable, Equatable {
    /// Reflectance × 10000 like the input, 0 = no observation.
    case uint16
    /// Deviations and other real-valued results, NaN = no observation.
    case float32
    /// Whole numbers such as dates (days since 1970-01-01), `int32Fill` = no observation.
    case int32

    public var byteWidth: Int { self == .uint16 ? 2 : 4 }

    /// The fill value of int32 outputs: no date is that far before 1970.
    public static let int32Fill: Int32 = .min
}

/// One output array of a composite: what the schema creates and the worker fills.
public struct OutputDeclaration: Sendable, Equatable {
    /// Array name in the cube.
    public var name: String
    public var type: OutputType
    /// The statistic that writes it.
    public var statistic: String
    /// The input band it describes; nil for arrays across bands (`smad`, ...).
    public var band: String?
    /// What it is, in words (becomes the array's `long_name`).
    public var longName: String
    /// The rule, in words, precise enough to recompute it (becomes `cube:rule`).
    public var rule: String
    /// CF units.
    public var units: String

    public init(name: String, type: OutputType, statistic: String, band: String?, longName: String, rule: String,
                units: String) {
        self.name = name
        self.type = type
        self.statistic = statistic
        self.band = band
        self.longName = longName
        self.rule = rule
        self.units = units
    }

    /// The per-band array of statistic `statistic`: the band's own name alone, `band_stat` with several.
    public static func bandName(_ band: String, statistic: String, several: Bool) -> String {
        several ? "\(band)_\(statistic)" : band
    }
}

/// A statistic computed per band from that band's sorted valid values.
public protocol OrderStatistic: CompositeStatistic {
    /// True when it reads positions below the median, so the sort cannot be pruned to the
    /// upper half (the median alone needs only positions ≥ (n−1)/2).
    var needsLowerHalf: Bool { get }
    /// True when it needs the values sorted at all (the mean does not).
    var needsSort: Bool { get }
    /// What it is, for `long_name` ("median", "10th percentile").
    var longName: String { get }
    /// The rule, precise enough to recompute it (`cube:rule`).
    var rule: String { get }
    /// Writes one value per lane of `block` into `out[0..<block.width]`.
    func extract(_ block: SortedBlock, into out: UnsafeMutablePointer<UInt16>)
}

extension OrderStatistic {
    public func outputs(bands: [String], several: Bool) -> [OutputDeclaration] {
        bands.map { band in
            OutputDeclaration(
                name: OutputDeclaration.bandName(band, statistic: name, several: several), type: .uint16,
                statistic: name, band: band, longName: "\(band) surface reflectance, \(longName) of valid observations",
                rule: rule, units: "1")
        }
    }
}

/// The sorted observations of up to 8 pixels of one band. Slot k, lane l is at
/// `slots[k * 8 + l]`; the `counts[l]` valid values of lane l are at slots `n - counts[l] ..< n`
/// in ascending order (invalid observations are 0 and sort below them).
public struct SortedBlock {
    public let slots: UnsafePointer<UInt16>
    /// Sorted slots.
    public let n: Int
    /// Valid observations per lane.
    public let counts: UnsafePointer<UInt16>
    /// Lanes to write (8 except at a window's tail).
    public let width: Int

    /// The i-th smallest valid value of lane l (i < counts[l]).
    @inline(__always)
    public func value(_ i: Int, lane l: Int) -> UInt16 {
        slots[(n &- Int(counts[l]) &+ i) &* Lane8.scalarCount &+ l]
    }
}

/// A statistic over all bands of a pixel at once.
public protocol PixelStatistic: CompositeStatistic {
    /// Writes its outputs (in `outputs` order) for the pixels in `range`.
    func reduce(_ stack: ObservationStack, range: Range<Int>, into outputs: [UnsafeMutableRawPointer])
}

/// Read access to a reducer's stored observations: observation o, band b, pixel p holds
/// `values[o * slotStride + b * pixelCount + p]`, 0 where the observation is not valid
/// (valid values are ≥ 1, and a valid observation is valid in every band).
public struct ObservationStack {
    public let values: UnsafePointer<UInt16>
    public let observations: Int
    public let bandCount: Int
    public let pixelCount: Int
    /// Valid observations per pixel.
    public let counts: UnsafePointer<UInt16>
    /// The `observations` slots in time order (the order they were acquired, not stored).
    public let order: UnsafePointer<Int>
    /// Each slot's acquisition day, days since 1970-01-01.
    public let days: UnsafePointer<Int32>

    var slotStride: Int { bandCount &* pixelCount }

    @inline(__always)
    public func value(observation o: Int, band b: Int, pixel p: Int) -> UInt16 {
        values[o &* slotStride &+ b &* pixelCount &+ p]
    }
}

/// When an observation was acquired: its solar day and its rank in time order among the
/// window's observations (the job's observation index), so results do not depend on the order
/// read lanes store observations in.
public struct ObservationTime: Sendable, Equatable {
    /// Days since 1970-01-01.
    public var day: Int32
    public var rank: Int

    public init(day: Int32, rank: Int) {
        self.day = day
        self.rank = rank
    }
}

/// The statistics a composite is made of, and the arrays they write, in order.
public struct CompositeRecipe: Sendable {
    /// The composite's statistics, then one `SpectralIndex` per index.
    public let statistics: [any CompositeStatistic]
    public let bands: [String]
    /// More than one composite statistic: per-band and index arrays are suffixed `_<stat>`.
    public let several: Bool
    /// Every output, statistic by statistic, in the order `CompositeReducer.finish` fills them.
    public let outputs: [OutputDeclaration]
    /// The cube's value domain; nil: the stored integers as they are (uint16 band arrays).
    public let domain: ValueDomain?
    /// Per output: true when its statistic writes uint16 stored values and the reducer decodes
    /// them into this float32 plane (`ValueDomain.decode`), for a domain whose `cubeType` is float32.
    public let decoded: [Bool]

    /// Statistics by name (see `Statistics.parse`); throws on an unknown or repeated name.
    /// `indices`: (array name, expression over the band names), reduced by the per-band statistics.
    public init(statistics names: [String], bands: [String], indices: [(name: String, expression: String)] = [],
                domain: ValueDomain? = nil) throws {
        var parsed: [any CompositeStatistic] = []
        for name in names {
            let s = try Statistics.parse(name)
            guard !parsed.contains(where: { $0.name == s.name }) else { throw StatisticError.repeated(s.name) }
            parsed.append(s)
        }
        try self.init(statistics: parsed, bands: bands, indices: indices, domain: domain)
    }

    /// `domain`: with `cubeType == .float32` every per-band uint16 output (order statistics, the
    /// medoid's bands) is declared float32 in the domain's units and holds decoded values. The
    /// geomedian is refused there: its band arrays and MADs are defined over reflectance.
    public init(statistics: [any CompositeStatistic], bands: [String],
                indices: [(name: String, expression: String)] = [], domain: ValueDomain? = nil) throws {
        guard !statistics.isEmpty else { throw StatisticError.none }
        self.bands = bands
        let several = statistics.count > 1
        self.several = several
        let names = statistics.map(\.name)
        let spectral = try indices.map { index in
            let s = SpectralIndex(name: index.name, program: try IndexProgram.compile(index.expression, bands: bands),
                                  statistics: names, several: several)
            guard !s.rules.isEmpty else { throw StatisticError.noPerBandStatistic(index.name) }
            return s
        }
        self.statistics = statistics + spectral
        self.domain = domain
        let declared = self.statistics.flatMap { $0.outputs(bands: bands, several: several) }
        guard let domain, domain.cubeType == .float32 else {
            outputs = declared
            decoded = declared.map { _ in false }
            return
        }
        if let g = statistics.first(where: { $0 is Geomedian }) {
            throw StatisticError.needsReflectance(g.name, domain.quantity)
        }
        decoded = declared.map { $0.type == .uint16 && $0.band != nil }
        outputs = zip(declared, decoded).map { d, decodes in
            guard decodes else { return d }
            var o = d
            o.type = .float32
            o.units = domain.units
            o.longName = o.longName.replacing("surface reflectance", with: domain.quantity)
            o.rule += "; then decoded to float32: Float(Double(stored) * \(domain.scaleFactor) + \(domain.addOffset)) "
                + "\(domain.units), NaN where stored is 0 (none)"
            return o
        }
    }

    /// Today's composite: the median of every band.
    public static func median(bands: [String]) -> CompositeRecipe {
        // Cannot fail: one known statistic.
        try! CompositeRecipe(statistics: [Median()], bands: bands, domain: nil)
    }

    /// Bytes of every output plane for `pixelCount` pixels.
    public func outputBytes(pixelCount: Int) -> Int {
        outputs.reduce(0) { $0 + $1.type.byteWidth * pixelCount }
    }
}

/// Why a statistic name was refused.
public enum StatisticError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case repeated(String)
    case none
    case noPerBandStatistic(String)
    /// A statistic defined over reflectance, asked of a float32 cube of another quantity.
    case needsReflectance(String, String)

    public var description: String {
        switch self {
        case .unknown(let name):
            return "unknown statistic '\(name)'; expected \(Statistics.known)"
        case .repeated(let name):
            return "statistic '\(name)' is listed twice"
        case .none:
            return "needs at least one statistic"
        case .noPerBandStatistic(let index):
            return "index '\(index)' needs a per-observation statistic in composite (median, mean, min, max or pNN)"
        case .needsReflectance(let statistic, let quantity):
            return "\(statistic) is defined over surface reflectance (its MADs too); a float32 cube of \(quantity) cannot have it (median, mean, min, max, pNN, medoid can)"
        }
    }
}

/// The statistics cube knows, by name.
public enum Statistics {
    public static let known = "median, mean, min, max, pNN (a whole percentile 0-100, e.g. p10), geomedian, medoid"

    /// The statistic spelled `name` (case-insensitive; `p010` is `p10`).
    public static func parse(_ raw: String) throws -> any CompositeStatistic {
        let name = raw.lowercased()
        switch name {
        case "median": return Median()
        case "mean": return Mean()
        case "min": return Extreme.min
        case "max": return Extreme.max
        case "geomedian": return Geomedian()
        case "medoid": return Medoid()
        default:
            if name.hasPrefix("p"), name.count >= 2, name.count <= 4,
               name.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }),
               let q = Int(name.dropFirst()), (0...100).contains(q) {
                return Percentile(q)
            }
            throw StatisticError.unknown(raw)
        }
    }
}
