import CubeCore
/// Solar-day fusion: the scenes of one solar day (overlapping tiles of one pass) become ONE
/// observation. Scenes must be added in (datetime, item id) order; per pixel one scene
/// provides all band values, once, harmonised by its per-band DN shifts: the first scene with
/// data there (`FusionRule.firstData`, the default) or the first valid one (`.firstValid`).
///
/// A scene pixel is valid when its mask class is not invalid and every band value is nonzero.
/// In the observation, a pixel is valid exactly when its band values are nonzero: harmonised
/// values are clamped to ≥ 1 and unfilled pixels stay 0, so no separate validity plane is
/// stored (`isValid(_:)` reads band 0).
///
/// A builder either owns its planes (`init`) or writes straight into a reducer's next
/// observation slot (`CompositeReducer.beginObservation`), which saves a copy per observation.
public final class ObservationBuilder {
    public let pixelCount: Int
    public let bandCount: Int
    /// What a scene's mask values mean (SCL classes, QA bits), applied to every scene.
    public var maskRule: MaskRule
    /// Which scene of the day gives a pixel its values.
    public var fusionRule: FusionRule
    /// Scenes offered so far (valid or not).
    public private(set) var sceneCount = 0
    /// Pixels filled so far; never decreases until `reset()`.
    public private(set) var validPixelCount = 0
    /// Pixels some scene had data at so far (`.firstData`: later scenes cannot change them).
    public private(set) var decidedPixelCount = 0
    /// Keeps the "some scene had data" plane under `.firstValid` too (it always exists under
    /// `.firstData`), for `maskedPixels` (mask filters).
    public let tracksMaskedPixels: Bool

    let storage: PlaneStorage
    /// Element offset of band 0 inside `storage`; band b starts at offset + b * pixelCount.
    private(set) var offset: Int
    /// False once a reducer slot builder was committed: it then refuses scenes until the
    /// reducer re-opens it with `beginObservation`. Standalone builders are always open.
    var isOpen = true
    /// 1 where a scene had data (`.firstData`); one UInt16 per pixel so the fusion loop
    /// works on it in the same lanes as the bands.
    private let decided: UnsafeMutablePointer<UInt16>

    /// A standalone builder that owns its band planes.
    /// `tracksMaskedPixels`: see `maskedPixels(into:)` (only `.firstValid` needs it said).
    public init(pixelCount: Int, bandCount: Int, maskRule: MaskRule = .sentinel2Default,
                fusionRule: FusionRule = .firstData, tracksMaskedPixels: Bool = false) throws {
        guard pixelCount > 0, bandCount > 0 else {
            throw CompositeError.invalidDimensions("pixelCount \(pixelCount), bandCount \(bandCount)")
        }
        let n = try checkedProduct(pixelCount, bandCount, what: "observation planes")
        self.pixelCount = pixelCount
        self.bandCount = bandCount
        self.maskRule = maskRule
        self.fusionRule = fusionRule
        self.tracksMaskedPixels = tracksMaskedPixels
        storage = PlaneStorage(count: n)
        offset = 0
        decided = .allocate(capacity: pixelCount)
        clearPlanes()
    }

    /// A builder writing into `storage` at `offset` (a reducer slot).
    init(storage: PlaneStorage, offset: Int, pixelCount: Int, bandCount: Int, maskRule: MaskRule,
         fusionRule: FusionRule) {
        self.pixelCount = pixelCount
        self.bandCount = bandCount
        self.maskRule = maskRule
        self.fusionRule = fusionRule
        tracksMaskedPixels = false
        self.storage = storage
        self.offset = offset
        decided = .allocate(capacity: pixelCount)
        clearPlanes()
    }

    deinit { decided.deallocate() }

    /// True once any pixel got a value; an empty observation should be skipped downstream.
    public var hasValidPixels: Bool { validPixelCount > 0 }

    /// True when later scenes of the day cannot change anything (every pixel decided, or
    /// with `.firstValid` every pixel filled), so the caller may skip reading them.
    public var isComplete: Bool {
        switch fusionRule {
        case .firstData: return decidedPixelCount == pixelCount || validPixelCount == pixelCount
        case .firstValid: return validPixelCount == pixelCount
        }
    }

    /// Starts a new observation (all pixels unfilled).
    /// (A reducer slot builder is re-opened by `CompositeReducer.beginObservation` instead.)
    public func reset() {
        guard isOpen else { return }
        clearPlanes()
    }

    func retarget(offset newOffset: Int) {
        offset = newOffset
        isOpen = true
        clearPlanes()
    }

    private func clearPlanes() {
        (storage.base + offset).update(repeating: 0, count: pixelCount * bandCount)
        decided.update(repeating: 0, count: pixelCount)
        sceneCount = 0
        validPixelCount = 0
        decidedPixelCount = 0
    }

    /// A scene whose bands are not read because no pixel of it can be taken (`markNeeded`
    /// found none): with `.firstData` its masked pixels (data, but invalid) still settle the
    /// day, so later scenes do not fill them. Returns how many it settled.
    @discardableResult
    public func settleMasked<M: MaskSample>(mask: UnsafeBufferPointer<M>) throws -> Int {
        // Generic code called from another module is not specialised: hand the two mask
        // types to specialised bodies so the per-pixel loop has no witness calls.
        if let m = mask as? UnsafeBufferPointer<UInt8> { return try settleMaskedBody(mask: m) }
        if let m = mask as? UnsafeBufferPointer<UInt16> { return try settleMaskedBody(mask: m) }
        return try settleMaskedBody(mask: mask)
    }

    @inline(__always)
    private func settleMaskedBody<M: MaskSample>(mask: UnsafeBufferPointer<M>) throws -> Int {
        guard mask.count == pixelCount else {
            throw CompositeError.planeSizeMismatch(what: "scene mask", expected: pixelCount, actual: mask.count)
        }
        guard isOpen else { throw CompositeError.noOpenObservation }
        sceneCount += 1
        guard recordsData else { return 0 }
        let settled = maskRule.table.withUnsafeBufferPointer { table in
            var count = 0
            // Invalid and not no data: flags == 1.
            for p in 0..<pixelCount where decided[p] == 0 && table[Int(mask[p])] & 3 == MaskRule.invalidFlag {
                decided[p] = 1
                count &+= 1
            }
            return count
        }
        decidedPixelCount += settled
        return settled
    }

    /// Flags the pixels no scene has settled yet (not filled, and with `.firstData` not
    /// decided): only there does the next scene's mask matter. Returns how many there are.
    public func markUnsettled(into flags: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(flags.count == pixelCount, "flags must hold pixelCount values")
        let filled = UnsafePointer(storage.base + offset)
        let decided = UnsafePointer(self.decided)
        // Branch-free (cloud edges are random to a branch predictor) so the loop vectorises.
        let decidedMask: UInt16 = fusionRule == .firstData ? 0xFFFF : 0
        guard let out = flags.baseAddress else { return 0 }
        var count = 0
        for p in 0..<pixelCount {
            let open: UInt8 = (filled[p] | (decided[p] & decidedMask)) == 0 ? 1 : 0
            out[p] = open
            count &+= Int(open)
        }
        return count
    }

    /// Flags the pixels a scene with this mask plane could still fill (its class is valid
    /// and no earlier scene settled the pixel), so only their source blocks are decoded;
    /// returns how many there are.
    public func markNeeded<M: MaskSample>(mask: UnsafeBufferPointer<M>, into needed: UnsafeMutableBufferPointer<UInt8>) -> Int {
        if let m = mask as? UnsafeBufferPointer<UInt8> { return markNeededBody(mask: m, into: needed) }
        if let m = mask as? UnsafeBufferPointer<UInt16> { return markNeededBody(mask: m, into: needed) }
        return markNeededBody(mask: mask, into: needed)
    }

    @inline(__always)
    private func markNeededBody<M: MaskSample>(mask: UnsafeBufferPointer<M>, into needed: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(mask.count == pixelCount && needed.count == pixelCount, "planes must hold pixelCount values")
        let settled = UnsafePointer(fusionRule == .firstData ? decided : storage.base + offset)
        let filled = UnsafePointer(storage.base + offset)
        return maskRule.table.withUnsafeBufferPointer { table in
            var count = 0
            for p in 0..<pixelCount {
                // A filled pixel is settled in both rules.
                let open = settled[p] == 0 && filled[p] == 0 && table[Int(mask[p])] & MaskRule.invalidFlag == 0
                needed[p] = open ? 1 : 0
                count &+= open ? 1 : 0
            }
            return count
        }
    }

    /// True when the "some scene had data" plane is kept (`.firstData`, or `tracksMaskedPixels`).
    var recordsData: Bool { fusionRule == .firstData || tracksMaskedPixels }

    /// Writes the observation's masked pixels into `plane`: 1 where some scene of the day has
    /// data and the observation has no value (under `.firstData` the scene that decides the
    /// pixel has an invalid class there; under `.firstValid` every scene with data has), 0
    /// elsewhere (valid, or no data in any scene). Needs `.firstData` or `tracksMaskedPixels`.
    /// Returns the number of masked pixels.
    @discardableResult
    public func maskedPixels(into plane: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(plane.count == pixelCount, "plane must hold pixelCount values")
        precondition(recordsData, "maskedPixels needs .firstData or tracksMaskedPixels")
        let filled = UnsafePointer(storage.base + offset)
        let decided = UnsafePointer(self.decided)
        guard let out = plane.baseAddress else { return 0 }
        var count = 0
        for p in 0..<pixelCount {
            let m: UInt8 = decided[p] != 0 && filled[p] == 0 ? 1 : 0
            out[p] = m
            count &+= Int(m)
        }
        return count
    }

    /// True when the observation has a value at `pixel`.
    public func isValid(_ pixel: Int) -> Bool {
        precondition(pixel >= 0 && pixel < pixelCount, "pixel index out of range")
        return storage.base[offset + pixel] != 0
    }

    /// Read access to one band plane of the observation (0 where not valid).
    public func withBand<R>(_ band: Int, _ body: (UnsafeBufferPointer<UInt16>) throws -> R) rethrows -> R {
        precondition(band >= 0 && band < bandCount, "band index out of range")
        return try body(UnsafeBufferPointer(start: storage.base + offset + band * pixelCount, count: pixelCount))
    }

    /// Fuses one scene into the observation: fills every still-unfilled pixel where the scene
    /// is valid. `bands[b]` is the scene's plane for band b (0 = nodata), `mask` its mask plane
    /// (SCL classes or QA bits, read through `maskRule`; nil when the scene has no mask: only
    /// nodata makes a pixel invalid), `maps[b]` how band b's DN become cube values.
    /// - Returns: the number of pixels this scene filled.
    @discardableResult
    public func addScene<M: MaskSample>(
        bands: [UnsafeBufferPointer<UInt16>], mask: UnsafeBufferPointer<M>?, maps: [ValueMap]
    ) throws -> Int {
        guard bands.count == bandCount else {
            throw CompositeError.bandCountMismatch(what: "scene bands", expected: bandCount, actual: bands.count)
        }
        for (b, plane) in bands.enumerated() where plane.count != pixelCount {
            throw CompositeError.planeSizeMismatch(what: "scene band \(b)", expected: pixelCount, actual: plane.count)
        }
        if let mask, mask.count != pixelCount {
            throw CompositeError.planeSizeMismatch(what: "scene mask", expected: pixelCount, actual: mask.count)
        }
        guard maps.count == bandCount else {
            throw CompositeError.bandCountMismatch(what: "value maps", expected: bandCount, actual: maps.count)
        }
        guard isOpen else { throw CompositeError.noOpenObservation }
        sceneCount += 1
        if isComplete { return 0 }

        var sources = [UnsafePointer<UInt16>]()
        sources.reserveCapacity(bandCount)
        for plane in bands {
            // An empty plane cannot reach here (pixelCount > 0), so baseAddress is non-nil.
            guard let p = plane.baseAddress else { return 0 }
            sources.append(p)
        }
        let laneMaps = maps.map(LaneMap.init)
        let (filled, newlyDecided) = sources.withUnsafeBufferPointer { src in
            maskRule.table.withUnsafeBufferPointer { table in
                let out = storage.base + offset, decided = recordsData ? decided : nil
                let decides = fusionRule == .firstData
                // Concrete mask types reach specialised loops (see settleMasked).
                if let m = mask as? UnsafeBufferPointer<UInt8>? {
                    return Self.fuse(sources: src, mask: m?.baseAddress, table: table, maps: laneMaps, out: out,
                                     decided: decided, decides: decides, pixelCount: pixelCount)
                }
                if let m = mask as? UnsafeBufferPointer<UInt16>? {
                    return Self.fuse(sources: src, mask: m?.baseAddress, table: table, maps: laneMaps, out: out,
                                     decided: decided, decides: decides, pixelCount: pixelCount)
                }
                return Self.fuse(sources: src, mask: mask?.baseAddress, table: table, maps: laneMaps, out: out,
                                 decided: decided, decides: decides, pixelCount: pixelCount)
            }
        }
        validPixelCount += filled
        decidedPixelCount += newlyDecided
        return filled
    }

    /// `addScene` with Sentinel-2 DN shifts (see `Harmonisation`) and an SCL plane.
    @discardableResult
    public func addScene(
        bands: [UnsafeBufferPointer<UInt16>], mask: UnsafeBufferPointer<UInt8>?, shifts: [Int32]
    ) throws -> Int {
        try Harmonisation.validate(shifts, bandCount: bandCount)
        return try addScene(bands: bands, mask: mask, maps: shifts.map(ValueMap.shift))
    }

    /// The fusion loop, branch-free so random-looking cloud masks cost no mispredictions.
    /// Per block, pass 1 turns mask values into 0/1 "valid" and "has data" flags (a table
    /// lookup, scalar); pass 2 works on 8 pixels at a time: take = unfilled & mask valid & every
    /// band nonzero, then each band selects its mapped value where take.
    /// `out` holds bandCount planes of pixelCount values; a pixel is filled when out band 0 is nonzero.
    /// `decided` (`.firstData`, or kept for `maskedPixels`): the pixels this scene has data at
    /// are added; with `decides` (`.firstData`) pixels an earlier scene had data at are not
    /// taken. Returns (filled, newly decided).
    private static func fuse<M: MaskSample>(
        sources: UnsafeBufferPointer<UnsafePointer<UInt16>>, mask: UnsafePointer<M>?,
        table: UnsafeBufferPointer<UInt8>, maps shifters: [LaneMap],
        out: UnsafeMutablePointer<UInt16>, decided: UnsafeMutablePointer<UInt16>?, decides: Bool, pixelCount: Int
    ) -> (Int, Int) {
        let blockSize = 4096
        let lanes = Lane8.scalarCount
        let classOK = UnsafeMutablePointer<UInt16>.allocate(capacity: blockSize)
        let hasClass = UnsafeMutablePointer<UInt16>.allocate(capacity: blockSize)
        defer { classOK.deallocate(); hasClass.deallocate() }
        let tableBase = table.baseAddress.unsafelyUnwrapped
        let zero = Lane8(repeating: 0), one = Lane8(repeating: 1)
        var filled = zero  // per-lane fill counts, flushed every block (≤ 512 each, no overflow)
        var filledTotal = 0
        var newly = zero
        var newlyTotal = 0
        var start = 0
        while start < pixelCount {
            let width = min(blockSize, pixelCount &- start)
            if let mask {
                let m = mask + start
                for i in 0..<width {
                    let flags = UInt16(tableBase[Int(m[i])])
                    classOK[i] = 1 &- (flags & 1)
                    hasClass[i] = 1 &- (flags >> 1)
                }
            } else {
                classOK.update(repeating: 1, count: width)
                hasClass.update(repeating: 1, count: width)
            }
            var i = 0
            while i < width {
                let p = start &+ i
                let n = min(lanes, width &- i)
                let classValid = load(classOK + i, n) .!= zero
                var bandsOK = load(sources[0] + p, n) .!= zero
                for src in sources.dropFirst() { bandsOK .&= load(src + p, n) .!= zero }
                var take = classValid .& bandsOK .& (load(out + p, n) .== zero)
                if let decided {
                    let d = load(decided + p, n)
                    let undecided = d .== zero
                    if decides { take .&= undecided }
                    // Data: a class other than 0 and, where the class is valid, every band.
                    let data = ((load(hasClass + i, n) .!= zero) .& (.!classValid .| bandsOK)) .| take
                    let fresh = data .& undecided
                    store(d.replacing(with: one, where: fresh), decided + p, n)
                    newly &+= zero.replacing(with: one, where: fresh)
                }
                for b in 0..<sources.count {
                    let o = out + (b &* pixelCount &+ p)
                    let v = shifters[b].apply(load(sources[b] + p, n))
                    store(load(o, n).replacing(with: v, where: take), o, n)
                }
                filled &+= zero.replacing(with: one, where: take)
                i &+= lanes
            }
            filledTotal &+= Int(filled.wrappedSum())
            filled = zero
            newlyTotal &+= Int(newly.wrappedSum())
            newly = zero
            start &+= width
        }
        return (filledTotal, newlyTotal)
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<UInt16>, _ n: Int) -> Lane8 {
        if n == Lane8.scalarCount { return UnsafeRawPointer(p).loadUnaligned(as: Lane8.self) }
        var v = Lane8(repeating: 0)
        for l in 0..<n { v[l] = p[l] }
        return v
    }

    @inline(__always)
    private static func load(_ p: UnsafeMutablePointer<UInt16>, _ n: Int) -> Lane8 { load(UnsafePointer(p), n) }

    @inline(__always)
    private static func store(_ v: Lane8, _ p: UnsafeMutablePointer<UInt16>, _ n: Int) {
        if n == Lane8.scalarCount {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane8.self)
            return
        }
        for l in 0..<n { p[l] = v[l] }
    }
}

/// `ValueMap.apply` for 8 nonzero values at once. A shift (Sentinel-2) stays in UInt16
/// arithmetic: a negative shift -d gives v - d where v > d, else 1; a positive shift u gives
/// v + u, capped at 65535. Other maps (Landsat) go through 32-bit lanes.
struct LaneMap {
    let down: UInt16
    let up: UInt16
    let general: ValueMap?

    init(_ map: ValueMap) {
        if let shift = map.shift {
            down = shift < 0 ? UInt16(clamping: -Int64(shift)) : 0
            up = shift > 0 ? UInt16(clamping: Int64(shift)) : 0
            general = nil
        } else {
            down = 0
            up = 0
            general = map
        }
    }

    @inline(__always)
    func apply(_ v: Lane8) -> Lane8 {
        if let general {
            // m·v + a fits Int32 (checked by ValueMap); below one divisor the result clamps to 1.
            let d = SIMD8<Int32>(repeating: general.divisor)
            var x = SIMD8<Int32>(truncatingIfNeeded: v) &* SIMD8<Int32>(repeating: general.multiplier)
                &+ SIMD8<Int32>(repeating: general.addend)
            x.replace(with: d, where: x .< d)
            let q = x / d
            return Lane8(truncatingIfNeeded: q.replacing(with: 65535, where: q .> 65535))
        }
        if down != 0 {
            let d = Lane8(repeating: down)
            return Lane8(repeating: 1).replacing(with: v &- d, where: v .> d)
        }
        if up != 0 {
            let limit = Lane8(repeating: 65535 &- up)
            return Lane8(repeating: 65535).replacing(with: v &+ Lane8(repeating: up), where: v .<= limit)
        }
        return v
    }
}
