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
/// pass over the row per dy. Cost: about (r + 1) + (2r + 1) byte passes per pixel and operation,
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
        var count = Self.settle(m, count: n, flip: 0)
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
        let padded = UnsafeMutablePointer<UInt8>.allocate(capacity: w + 2 * Int(cap))
        defer { padded.deallocate() }
        for y in 0..<h {
            rowDistances(source + y * w, sought: sought, cap: cap, padded: padded, into: distances + y * w, width: w)
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
                    reach(o, UnsafePointer(distances + yy * w), limit: half[abs(dy)], width: w)
                }
                count &+= settle(o, count: w, flip: flip)
            }
        }
        return count
    }

    /// `into[x]` = the distance from x to the nearest pixel of value `sought` in the row (at
    /// most `cap`); the pixels past both ends count as 0 (as erosion seeks: outside is clear).
    /// `padded` holds `width + 2 * cap` bytes of scratch.
    ///
    /// Vectorised rather than two scalar running passes (whose carried dependency cost ~2 ns a
    /// pixel): the row is copied between `cap` bytes of 0 on each side — outside is 0, which is
    /// the value erosion seeks and dilation does not — and for k = cap − 1 down to 0 every
    /// pixel whose x − k or x + k holds the value takes distance k.
    @inline(__always)
    static func rowDistances(_ row: UnsafePointer<UInt8>, sought: UInt8, cap: UInt8, padded: UnsafeMutablePointer<UInt8>,
                             into d: UnsafeMutablePointer<UInt8>, width w: Int) {
        let pad = Int(cap)
        padded.update(repeating: 0, count: pad)
        (padded + pad).update(from: row, count: w)
        (padded + pad + w).update(repeating: 0, count: pad)
        d.update(repeating: cap, count: w)
        // 0/1 values: dilation seeks 1 (hit = l | r), erosion seeks 0 (hit = !(l & r)).
        let seeksOne = sought != 0
        var k = pad - 1
        while k >= 0 {
            let left = UnsafeRawPointer(padded + pad - k), right = UnsafeRawPointer(padded + pad + k), kk = UInt8(k)
            let kv = V.init(repeating: kk), zero = V.init(repeating: 0)
            var x = 0
            while x + V.scalarCount <= w {
                let l = left.loadUnaligned(fromByteOffset: x, as: V.self), r = right.loadUnaligned(fromByteOffset: x, as: V.self)
                let hit = seeksOne ? (l | r) .!= zero : (l & r) .== zero
                let old = UnsafeRawPointer(d).loadUnaligned(fromByteOffset: x, as: V.self)
                UnsafeMutableRawPointer(d).storeBytes(of: old.replacing(with: kv, where: hit), toByteOffset: x, as: V.self)
                x += V.scalarCount
            }
            let l8 = left.assumingMemoryBound(to: UInt8.self), r8 = right.assumingMemoryBound(to: UInt8.self)
            while x < w {
                let hit = seeksOne ? (l8[x] | r8[x]) != 0 : (l8[x] & r8[x]) == 0
                if hit { d[x] = kk }
                x += 1
            }
            k -= 1
        }
    }

    typealias V = SIMD16<UInt8>

    /// Makes `p[0..<n]` 0/1 (nonzero → 1), XORed with `flip` (0 or 1); returns the 1s.
    @inline(__always)
    static func settle(_ p: UnsafeMutablePointer<UInt8>, count n: Int, flip: UInt8) -> Int {
        let one = V(repeating: 1), zero = V(repeating: 0), fv = V(repeating: flip)
        var total = 0
        var x = 0
        while x + V.scalarCount <= n {
            // Per lane at most 4096 ones before the UInt16 lanes are summed up.
            var acc = SIMD16<UInt16>(repeating: 0)
            var blocks = 0
            while x + V.scalarCount <= n && blocks < 4096 {
                let v = UnsafeRawPointer(p).loadUnaligned(fromByteOffset: x, as: V.self)
                let b = zero.replacing(with: one, where: v .!= zero) ^ fv
                UnsafeMutableRawPointer(p).storeBytes(of: b, toByteOffset: x, as: V.self)
                acc &+= SIMD16<UInt16>(truncatingIfNeeded: b)
                x += V.scalarCount
                blocks += 1
            }
            total &+= Int(acc.wrappedSum())
        }
        while x < n {
            let b: UInt8 = (p[x] != 0 ? 1 : 0) ^ flip
            p[x] = b
            total &+= Int(b)
            x += 1
        }
        return total
    }

    /// `o[x] |= 1` where `d[x] <= limit`, 16 pixels at a time.
    @inline(__always)
    static func reach(_ o: UnsafeMutablePointer<UInt8>, _ d: UnsafePointer<UInt8>, limit: UInt8, width w: Int) {
        let lv = V(repeating: limit), one = V(repeating: 1), zero = V(repeating: 0)
        var x = 0
        while x + V.scalarCount <= w {
            let dv = UnsafeRawPointer(d).loadUnaligned(fromByteOffset: x, as: V.self)
            let ov = UnsafeRawPointer(o).loadUnaligned(fromByteOffset: x, as: V.self)
            UnsafeMutableRawPointer(o).storeBytes(of: ov | zero.replacing(with: one, where: dv .<= lv), toByteOffset: x,
                                                  as: V.self)
            x += V.scalarCount
        }
        while x < w {
            if d[x] <= limit { o[x] = 1 }
            x += 1
        }
    }
}
