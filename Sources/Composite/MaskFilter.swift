/// Morphological filters of an observation's cloud mask (`mask: {filters: [[opening, 2],
/// [dilation, 3]]}`, as odc-algo's `mask_cleanup`): an ordered list of operations, each with a
/// disk of `radius` target pixels — the offsets `(dx, dy)` with `dx² + dy² ≤ radius²`.
///
/// They work on one boolean plane per observation, the pixels that have data and an invalid
/// class (`ObservationBuilder.maskedPixels`); the pixels of the filtered plane are dropped from
/// the observation. Outside the plane counts as not masked, for every operation:
/// - erosion: a pixel stays masked when every pixel of its disk is masked (so it is cleared
///   when its disk reaches outside the plane);
/// - dilation: a pixel becomes masked when any pixel of its disk is masked;
/// - opening: erosion, then dilation (removes specks smaller than the disk);
/// - closing: dilation, then erosion (fills holes smaller than the disk).
public enum MorphologyOperation: String, CaseIterable, Sendable {
    case erosion, dilation, opening, closing
}

/// One step of a filter list: an operation and its disk radius (0 leaves the mask as it is).
public struct MaskFilter: Equatable, Sendable, CustomStringConvertible {
    /// The largest radius a step may have (a disk 129 pixels across).
    public static let maxRadius = 64

    public let operation: MorphologyOperation
    public let radius: Int

    public init(_ operation: MorphologyOperation, radius: Int) throws {
        guard (0...Self.maxRadius).contains(radius) else {
            throw CompositeError.invalidDimensions("mask filter radius \(radius) is outside 0...\(Self.maxRadius)")
        }
        self.operation = operation
        self.radius = radius
    }

    /// How far (in pixels) the step's result depends on the mask: its radius, twice for opening
    /// and closing (two disks, one after the other).
    public var reach: Int {
        switch operation {
        case .erosion, .dilation: return radius
        case .opening, .closing: return 2 * radius
        }
    }

    public var description: String { "[\(operation.rawValue), \(radius)]" }
}

/// An ordered list of mask filters.
public struct MaskFilters: Equatable, Sendable, CustomStringConvertible {
    /// The largest halo a list may need (the sum of its steps' reach).
    public static let maxHalo = 256

    public let steps: [MaskFilter]

    public static let none = MaskFilters()

    public init(_ steps: [MaskFilter] = []) { self.steps = steps }

    public var isEmpty: Bool { steps.allSatisfy { $0.radius == 0 } }

    /// Pixels around a window whose mask the filtered window depends on: the sum of every
    /// step's reach. A window's filtered mask computed over the window grown by `halo`, with
    /// outside that grown window counted as not masked, equals the filtered mask of the whole
    /// plane there.
    public var halo: Int { steps.reduce(0) { $0 + $1.reach } }

    /// The elementary operations in order: opening and closing are two each.
    var elementary: [(erode: Bool, radius: Int)] {
        steps.filter { $0.radius > 0 }.flatMap { step -> [(erode: Bool, radius: Int)] in
            switch step.operation {
            case .erosion: return [(true, step.radius)]
            case .dilation: return [(false, step.radius)]
            case .opening: return [(true, step.radius), (false, step.radius)]
            case .closing: return [(false, step.radius), (true, step.radius)]
            }
        }
    }

    public var description: String { "[" + steps.map(\.description).joined(separator: ", ") + "]" }
}

/// Applies mask filters to 0/1 planes; owns its scratch planes (grown to the largest plane
/// seen and kept), so a lane filters every observation without allocating.
///
/// A disk erosion or dilation is computed row-wise: per source row, each pixel's distance to
/// the nearest pixel of the value sought in that row (two scalar passes, capped at r + 1);
/// then a target pixel is reached when, for some dy in -r...r, row y + dy has such a pixel
/// within the disk's half-width `h(dy) = ⌊√(r² − dy²)⌋` — one vectorisable compare-and-or
/// pass over the row per dy. Cost: about 2 + (2r + 1) byte passes per pixel and operation,
/// independent of the mask's shape; all-clear planes and rows are skipped.
public final class MaskMorphology {
    private var distances: [UInt8] = []
    private var other: [UInt8] = []

    public init() {}

    /// Filters `mask` (`width × height`, row-major, nonzero = masked) in place with
    /// `filters`, outside the plane counting as not masked at every step; the result is 0/1.
    /// Returns the number of masked pixels after filtering.
    @discardableResult
    public func apply(_ filters: MaskFilters, to mask: UnsafeMutableBufferPointer<UInt8>, width: Int, height: Int) -> Int {
        precondition(width > 0 && height > 0 && mask.count == width * height, "mask must hold width × height values")
        let n = mask.count
        guard let m = mask.baseAddress else { return 0 }
        var count = 0
        for p in 0..<n {
            let v: UInt8 = m[p] != 0 ? 1 : 0
            m[p] = v
            count &+= Int(v)
        }
        if distances.count < n { distances = [UInt8](repeating: 0, count: n) }
        if other.count < n { other = [UInt8](repeating: 0, count: n) }
        for step in filters.elementary {
            // Nothing masked stays nothing masked under erosion and dilation alike.
            if count == 0 { return 0 }
            count = other.withUnsafeMutableBufferPointer { out in
                distances.withUnsafeMutableBufferPointer { dist in
                    Self.step(erode: step.erode, radius: step.radius, source: UnsafePointer(m), out: out.baseAddress!,
                              distances: dist.baseAddress!, width: width, height: height)
                }
            }
            other.withUnsafeBufferPointer { m.update(from: $0.baseAddress!, count: n) }
        }
        return count
    }

    /// One erosion or dilation of `source` into `out`; returns the masked pixels of `out`.
    ///
    /// Both are "is a pixel of value v within the disk?": dilation looks for a masked pixel
    /// (outside: none), erosion for a clear one (outside: all clear) and negates the answer.
    static func step(erode: Bool, radius r: Int, source: UnsafePointer<UInt8>, out: UnsafeMutablePointer<UInt8>,
                     distances: UnsafeMutablePointer<UInt8>, width w: Int, height h: Int) -> Int {
        let sought: UInt8 = erode ? 0 : 1
        let cap = UInt8(r + 1)
        // Row distances to the nearest sought pixel, capped at r + 1 (never within reach).
        for y in 0..<h {
            rowDistances(source + y * w, sought: sought, outsideMatches: erode, cap: cap, into: distances + y * w,
                         width: w)
        }
        // Half-widths of the disk per |dy|: the largest hw with hw² ≤ r² − dy².
        var half = [UInt8](repeating: 0, count: r + 1)
        for dy in 0...r {
            var hw = 0
            while (hw + 1) * (hw + 1) + dy * dy <= r * r { hw += 1 }
            half[dy] = UInt8(hw)
        }
        let flip: UInt8 = erode ? 1 : 0
        var count = 0
        half.withUnsafeBufferPointer { half in
            for y in 0..<h {
                let o = out + y * w
                // Erosion: a disk that reaches past the top or bottom meets outside (clear).
                o.update(repeating: 0, count: w)
                if erode && (y < r || y + r >= h) { continue }
                for dy in -r...r {
                    let yy = y + dy
                    guard yy >= 0 && yy < h else { continue }
                    let d = UnsafePointer(distances + yy * w)
                    let limit = half[abs(dy)]
                    for x in 0..<w { o[x] |= d[x] <= limit ? 1 : 0 }
                }
                var rowCount = 0
                for x in 0..<w {
                    let v = o[x] ^ flip
                    o[x] = v
                    rowCount &+= Int(v)
                }
                count &+= rowCount
            }
        }
        return count
    }

    /// `into[x]` = the distance from x to the nearest pixel of value `sought` in the row (at
    /// most `cap`); with `outsideMatches` the pixels just past both ends count as such.
    @inline(__always)
    static func rowDistances(_ row: UnsafePointer<UInt8>, sought: UInt8, outsideMatches: Bool, cap: UInt8,
                             into d: UnsafeMutablePointer<UInt8>, width w: Int) {
        var run: UInt8 = outsideMatches ? 1 : cap
        for x in 0..<w {
            run = row[x] == sought ? 0 : run
            d[x] = run
            run = run < cap ? run &+ 1 : cap
        }
        run = outsideMatches ? 1 : cap
        var x = w - 1
        while x >= 0 {
            run = row[x] == sought ? 0 : run
            d[x] = min(d[x], run)
            run = run < cap ? run &+ 1 : cap
            x -= 1
        }
    }
}
