import CubeCore
import Dispatch

/// The per-pixel statistics (a `CompositeRecipe`: the median by default) and count of the
/// observations of one target window (a chunk, or a row strip of one).
///
/// Observations are stored whole, observation-major (`maxObservations × bandCount ×
/// pixelCount` UInt16, 0 = invalid), and reduced in `finish`: order statistics share one
/// branch-free SIMD sort of 8 pixels at a time, pixel statistics (the geomedian) walk pixels. Memory is bounded by `bytesRequired(...)`; callers that
/// must stay under a budget split the window into row strips with `StripPlan`.
///
/// Use: `beginObservation()` → fuse the day's scenes into the returned builder →
/// `commitObservation()`; or `add(_:)` / `add(bands:valid:)` to copy a ready observation.
/// Empty observations are never stored. Then `finish(...)`; `reset()` reuses the storage.
public final class CompositeReducer {
    public let pixelCount: Int
    public let bandCount: Int
    public let maxObservations: Int
    /// What `finish` computes, and the planes it fills.
    public let recipe: CompositeRecipe
    /// Observations stored so far (only ones with at least one valid pixel).
    public private(set) var observationCount = 0

    private let storage: PlaneStorage
    /// Valid observations per pixel, kept up to date on every commit.
    private var counts: [UInt16]
    /// The same per sensor, for mixed cubes (empty with one sensor).
    private var sensorCounts: [[UInt16]]
    /// The sensor of the observation open in the slot builder.
    private var slotSensor = 0
    /// The one builder handed out by `beginObservation`, re-targeted at each new slot.
    private var slotBuilder: ObservationBuilder?
    /// When the observation open in the slot builder was acquired.
    private var slotTime: ObservationTime?
    /// Per stored slot, when it was acquired: pixel statistics walk observations in time order
    /// (lanes store them in the order they finish) and the medoid reports the day.
    private var slotTimes: [ObservationTime] = []

    /// `recipe` defaults to the median of every band; `sensors` > 1 also counts observations per sensor.
    public init(pixelCount: Int, bandCount: Int, maxObservations: Int, recipe: CompositeRecipe? = nil,
                sensors: Int = 1) throws {
        guard pixelCount > 0, bandCount > 0, maxObservations >= 0, maxObservations <= Int(UInt16.max) else {
            throw CompositeError.invalidDimensions(
                "pixelCount \(pixelCount), bandCount \(bandCount), maxObservations \(maxObservations) (≤ 65535)")
        }
        let recipe = recipe ?? .median(bands: (0..<bandCount).map { "band\($0)" })
        guard recipe.bands.count == bandCount else {
            throw CompositeError.bandCountMismatch(what: "recipe bands", expected: bandCount, actual: recipe.bands.count)
        }
        self.recipe = recipe
        let n = try checkedProduct(maxObservations, bandCount, pixelCount, what: "observation storage")
        self.pixelCount = pixelCount
        self.bandCount = bandCount
        self.maxObservations = maxObservations
        storage = PlaneStorage(count: n)
        counts = [UInt16](repeating: 0, count: pixelCount)
        sensorCounts = sensors > 1 ? [[UInt16]](repeating: [UInt16](repeating: 0, count: pixelCount), count: sensors) : []
    }

    /// Bytes a reducer for this window holds while working: the observation store
    /// (N·B·P·2), the count plane (P·2) and the network scratch per thread. The outputs of
    /// `finish()` (B·P·2 + P·2) come on top unless written into caller buffers; a float32 cube
    /// (`CompositeRecipe.decoded`) also takes P·2 per decoded plane while `finish` runs.
    public static func bytesRequired(pixelCount: Int, bandCount: Int, observations: Int, threads: Int = 1) -> Int {
        let store = observations.multipliedReportingOverflow(by: bandCount).partialValue
            .multipliedReportingOverflow(by: pixelCount).partialValue
        return store &* 2 &+ pixelCount &* 2 &+ max(threads, 1) &* max(observations, 1) &* MemoryLayout<Lane8>.stride
    }

    private var slotStride: Int { bandCount * pixelCount }

    // MARK: adding observations

    /// Opens the next observation slot and returns a builder writing straight into it.
    /// Calling it again before `commitObservation()` discards the open observation.
    /// `sensor`: which sensor the observation comes from (for per-sensor counts).
    /// `time`: when it was acquired (nil: day 0, ranked after the observations stored so far).
    public func beginObservation(maskRule: MaskRule = .sentinel2Default,
                                 fusionRule: FusionRule = .firstData, sensor: Int = 0,
                                 time: ObservationTime? = nil) throws -> ObservationBuilder {
        guard observationCount < maxObservations else {
            throw CompositeError.capacityExceeded(capacity: maxObservations)
        }
        try checkSensor(sensor)
        slotSensor = sensor
        slotTime = time
        let offset = observationCount * slotStride
        if let builder = slotBuilder {
            builder.maskRule = maskRule
            builder.fusionRule = fusionRule
            builder.retarget(offset: offset)
            return builder
        }
        let builder = ObservationBuilder(
            storage: storage, offset: offset, pixelCount: pixelCount, bandCount: bandCount, maskRule: maskRule,
            fusionRule: fusionRule)
        slotBuilder = builder
        return builder
    }

    /// Keeps the open observation if it has any valid pixel.
    /// - Returns: true when the observation was stored, false when it was empty.
    @discardableResult
    public func commitObservation() throws -> Bool {
        guard let builder = slotBuilder, builder.isOpen else { throw CompositeError.noOpenObservation }
        // Closed builders refuse scenes, so a stored slot cannot be overwritten later.
        builder.isOpen = false
        guard builder.hasValidPixels else { return false }
        storeCommitted(sensor: slotSensor, time: slotTime)
        return true
    }

    private func checkSensor(_ sensor: Int) throws {
        guard sensor >= 0, sensor < max(sensorCounts.count, 1) else {
            throw CompositeError.invalidDimensions("sensor \(sensor) of \(max(sensorCounts.count, 1))")
        }
    }

    /// Copies a standalone builder's observation in (skipped when empty), from sensor `sensor`,
    /// acquired at `time` (see `beginObservation`).
    @discardableResult
    public func add(_ observation: ObservationBuilder, sensor: Int = 0, time: ObservationTime? = nil) throws -> Bool {
        try checkSensor(sensor)
        guard observation.pixelCount == pixelCount else {
            throw CompositeError.planeSizeMismatch(what: "observation", expected: pixelCount, actual: observation.pixelCount)
        }
        guard observation.bandCount == bandCount else {
            throw CompositeError.bandCountMismatch(what: "observation bands", expected: bandCount, actual: observation.bandCount)
        }
        guard observation !== slotBuilder else { throw CompositeError.noOpenObservation }
        guard observation.hasValidPixels else { return false }
        guard observationCount < maxObservations else { throw CompositeError.capacityExceeded(capacity: maxObservations) }
        let dst = storage.base + observationCount * slotStride
        dst.update(from: observation.storage.base + observation.offset, count: slotStride)
        storeCommitted(sensor: sensor, time: time)
        return true
    }

    /// Copies the `window` of a standalone builder's observation in (a builder of a grown
    /// window: `window.sourceWidth` × (its pixels / sourceWidth)), leaving out the pixels where
    /// `dropping` (of the builder's pixels) is nonzero. Skipped, returning false, when no pixel
    /// of the window is left valid.
    @discardableResult
    public func add(_ observation: ObservationBuilder, window: PlaneWindow, dropping: UnsafeBufferPointer<UInt8>?,
                    sensor: Int = 0, time: ObservationTime? = nil) throws -> Bool {
        try checkSensor(sensor)
        guard window.width * window.height == pixelCount else {
            throw CompositeError.planeSizeMismatch(what: "observation window", expected: pixelCount,
                                                   actual: window.width * window.height)
        }
        let sourceWidth = window.sourceWidth
        guard sourceWidth > 0, observation.pixelCount % sourceWidth == 0, window.col >= 0, window.row >= 0,
              window.col + window.width <= sourceWidth,
              window.row + window.height <= observation.pixelCount / sourceWidth else {
            throw CompositeError.invalidDimensions("window \(window) outside an observation of \(observation.pixelCount) pixels")
        }
        guard observation.bandCount == bandCount else {
            throw CompositeError.bandCountMismatch(what: "observation bands", expected: bandCount, actual: observation.bandCount)
        }
        if let dropping, dropping.count != observation.pixelCount {
            throw CompositeError.planeSizeMismatch(what: "dropped pixels", expected: observation.pixelCount,
                                                   actual: dropping.count)
        }
        guard observation !== slotBuilder else { throw CompositeError.noOpenObservation }
        guard observation.hasValidPixels else { return false }
        guard observationCount < maxObservations else { throw CompositeError.capacityExceeded(capacity: maxObservations) }
        let dst = storage.base + observationCount * slotStride
        let src = UnsafePointer(observation.storage.base + observation.offset)
        let sourcePixels = observation.pixelCount
        var kept = 0
        for b in 0..<bandCount {
            for r in 0..<window.height {
                let s = src + b * sourcePixels + (window.row + r) * sourceWidth + window.col
                let d = dst + b * pixelCount + r * window.width
                if let drop = dropping?.baseAddress {
                    let m = drop + (window.row + r) * sourceWidth + window.col
                    // Branch-free select (filtered clouds are random to a branch predictor).
                    for x in 0..<window.width { d[x] = m[x] == 0 ? s[x] : 0 }
                } else {
                    d.update(from: s, count: window.width)
                }
                if b == 0 {
                    var k = 0
                    for x in 0..<window.width { k &+= d[x] != 0 ? 1 : 0 }
                    kept &+= k
                }
            }
        }
        guard kept > 0 else { return false }
        storeCommitted(sensor: sensor, time: time)
        return true
    }

    /// Copies an observation given as band planes and a validity plane (nonzero = valid).
    /// Invalid pixels are stored as 0; a valid value of 0 is stored as 1, because 0 marks
    /// "no observation" in the store.
    @discardableResult
    public func add(bands: [UnsafeBufferPointer<UInt16>], valid: UnsafeBufferPointer<UInt8>,
                    time: ObservationTime? = nil) throws -> Bool {
        guard bands.count == bandCount else {
            throw CompositeError.bandCountMismatch(what: "observation bands", expected: bandCount, actual: bands.count)
        }
        for (b, plane) in bands.enumerated() where plane.count != pixelCount {
            throw CompositeError.planeSizeMismatch(what: "observation band \(b)", expected: pixelCount, actual: plane.count)
        }
        guard valid.count == pixelCount else {
            throw CompositeError.planeSizeMismatch(what: "validity plane", expected: pixelCount, actual: valid.count)
        }
        guard valid.contains(where: { $0 != 0 }) else { return false }
        guard observationCount < maxObservations else { throw CompositeError.capacityExceeded(capacity: maxObservations) }
        let dst = storage.base + observationCount * slotStride
        for (b, plane) in bands.enumerated() {
            let out = dst + b * pixelCount
            for p in 0..<pixelCount {
                out[p] = valid[p] != 0 ? max(plane[p], 1) : 0
            }
        }
        storeCommitted(sensor: 0, time: time)
        return true
    }

    /// Counts the slot at `observationCount` (valid ⇔ band 0 nonzero) and keeps it.
    private func storeCommitted(sensor: Int, time: ObservationTime?) {
        slotTimes.append(time ?? ObservationTime(day: 0, rank: observationCount))
        let band0 = UnsafePointer(storage.base + observationCount * slotStride)
        counts.withUnsafeMutableBufferPointer { c in
            for p in 0..<pixelCount {
                c[p] &+= band0[p] != 0 ? 1 : 0
            }
        }
        if !sensorCounts.isEmpty {
            sensorCounts[sensor].withUnsafeMutableBufferPointer { c in
                for p in 0..<pixelCount {
                    c[p] &+= band0[p] != 0 ? 1 : 0
                }
            }
        }
        observationCount += 1
    }

    /// Copies sensor `sensor`'s count plane (mixed cubes; the whole count with one sensor).
    public func sensorCount(_ sensor: Int, into plane: UnsafeMutableBufferPointer<UInt16>) throws {
        try checkSensor(sensor)
        guard plane.count == pixelCount else {
            throw CompositeError.planeSizeMismatch(what: "sensor count plane", expected: pixelCount, actual: plane.count)
        }
        let source = sensorCounts.isEmpty ? counts : sensorCounts[sensor]
        _ = plane.update(fromContentsOf: source)
    }

    /// Forgets all observations so the storage can serve the next window or strip.
    public func reset() {
        observationCount = 0
        slotTimes.removeAll(keepingCapacity: true)
        slotBuilder?.isOpen = false
        counts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        for s in sensorCounts.indices { sensorCounts[s].withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
    }

    // MARK: reducing

    /// Writes every output plane of the recipe (in `recipe.outputs` order, each
    /// `pixelCount` values of its type) and the count plane into caller buffers, e.g. the
    /// rows of a chunk buffer. `threads` > 1 splits the pixels across
    /// `DispatchQueue.concurrentPerform`.
    public func finish(outputs: [UnsafeMutableRawBufferPointer], count: UnsafeMutableBufferPointer<UInt16>,
                       threads: Int = 1) throws {
        let declared = recipe.outputs
        guard outputs.count == declared.count else {
            throw CompositeError.bandCountMismatch(what: "output planes", expected: declared.count, actual: outputs.count)
        }
        for (i, plane) in outputs.enumerated() where plane.count != pixelCount * declared[i].type.byteWidth {
            throw CompositeError.planeSizeMismatch(what: "output plane '\(declared[i].name)'", expected: pixelCount,
                                                   actual: plane.count / declared[i].type.byteWidth)
        }
        guard count.count == pixelCount else {
            throw CompositeError.planeSizeMismatch(what: "count plane", expected: pixelCount, actual: count.count)
        }
        counts.withUnsafeBufferPointer { c in
            _ = count.update(fromContentsOf: c)
            reduce(outs: outputs.map { $0.baseAddress.unsafelyUnwrapped }, counts: c.baseAddress.unsafelyUnwrapped,
                   threads: threads)
        }
    }

    /// `finish` for a recipe of uint16 planes only (the median, percentiles, ...): the planes
    /// in `recipe.outputs` order.
    public func finish(
        medians: [UnsafeMutableBufferPointer<UInt16>], count: UnsafeMutableBufferPointer<UInt16>, threads: Int = 1
    ) throws {
        try finish(outputs: medians.map { UnsafeMutableRawBufferPointer($0) }, count: count, threads: threads)
    }

    /// `finish` into new arrays (one extra copy of the planes; the worker should prefer the
    /// buffer form above): for the default recipe, one median plane per band.
    public func finish(threads: Int = 1) -> CompositeResult {
        let arrays = finishArrays(threads: threads)
        return CompositeResult(medians: recipe.outputs.compactMap { arrays.values[$0.name] }, count: arrays.count)
    }

    /// `finish` into new arrays, by output name.
    public func finishArrays(threads: Int = 1) -> CompositeArrays {
        let declared = recipe.outputs
        let planes = declared.map { UnsafeMutableRawBufferPointer.allocate(byteCount: pixelCount * $0.type.byteWidth,
                                                                           alignment: 16) }
        defer { planes.forEach { $0.deallocate() } }
        var result = CompositeArrays(values: [:], reals: [:], count: [])
        counts.withUnsafeBufferPointer { c in
            reduce(outs: planes.map { $0.baseAddress.unsafelyUnwrapped }, counts: c.baseAddress.unsafelyUnwrapped,
                   threads: threads)
            result.count = Array(c)
        }
        for (d, plane) in zip(declared, planes) {
            switch d.type {
            case .uint16: result.values[d.name] = Array(plane.bindMemory(to: UInt16.self))
            case .float32: result.reals[d.name] = Array(plane.bindMemory(to: Float.self))
            case .int32: result.integers[d.name] = Array(plane.bindMemory(to: Int32.self))
            }
        }
        return result
    }

    /// Runs the recipe over the stored observations, pixels split across `threads`.
    private func reduce(outs: [UnsafeMutableRawPointer], counts: UnsafePointer<UInt16>, threads: Int) {
        // Which outputs each statistic fills: its own, consecutively, in recipe order.
        var orderList: [(statistic: any OrderStatistic, first: Int)] = []
        var pixelList: [(statistic: any PixelStatistic, outputs: Range<Int>)] = []
        var next = 0
        for statistic in recipe.statistics {
            let n = statistic.outputs(bands: recipe.bands, several: recipe.several).count
            if let o = statistic as? any OrderStatistic { orderList.append((o, next)) }
            if let p = statistic as? any PixelStatistic { pixelList.append((p, next..<(next + n))) }
            next += n
        }
        let (orderStats, pixelStats) = (orderList, pixelList)
        let sorts = orderStats.contains { $0.statistic.needsSort }
        let fullSort = orderStats.contains { $0.statistic.needsSort && $0.statistic.needsLowerHalf }
        let kernel = SortKernel(observations: observationCount, slotStride: slotStride, sorts: sorts)
        let parts = ThreadSplit.ranges(pixelCount: pixelCount, threads: threads, alignment: Lane8.scalarCount)
        // The closure below runs on several threads; each writes only its own pixel range of these
        // buffers, which outlive the call (concurrentPerform returns when every part is done).
        nonisolated(unsafe) let base = UnsafePointer(storage.base)
        // A float32 cube (`recipe.decoded`): those statistics write uint16 stored values into
        // scratch planes (one allocation per call), then each part decodes its pixel range in
        // one contiguous pass per plane.
        let decodedPlanes = recipe.decoded.indices.filter { recipe.decoded[$0] }
        let scratchPlanes = UnsafeMutablePointer<UInt16>.allocate(capacity: max(decodedPlanes.count * pixelCount, 1))
        defer { scratchPlanes.deallocate() }
        var statisticOuts = outs
        for (k, i) in decodedPlanes.enumerated() { statisticOuts[i] = UnsafeMutableRawPointer(scratchPlanes + k * pixelCount) }
        nonisolated(unsafe) let finalOuts = outs
        nonisolated(unsafe) let storedPlanes = UnsafePointer(scratchPlanes)
        nonisolated(unsafe) let outs = statisticOuts
        let domain = recipe.domain
        nonisolated(unsafe) let counts = counts
        let pixels = pixelCount
        let bands = bandCount
        let n = observationCount
        // Slots in time order (rank, then slot), and each slot's day, for pixel statistics.
        let order = (0..<n).sorted { (slotTimes[$0].rank, $0) < (slotTimes[$1].rank, $1) }
        let days = slotTimes.map(\.day)
        let stackOrder = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
        let stackDays = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        defer { stackOrder.deallocate(); stackDays.deallocate() }
        stackOrder.initialize(from: order, count: n)
        stackDays.initialize(from: days, count: n)
        nonisolated(unsafe) let stack = ObservationStack(values: base, observations: n, bandCount: bands,
                                                         pixelCount: pixels, counts: counts,
                                                         order: stackOrder, days: stackDays)
        let work: @Sendable (Int) -> Void = { part in
            if !orderStats.isEmpty {
                let scratch = UnsafeMutablePointer<Lane8>.allocate(capacity: max(n, 1))
                defer { scratch.deallocate() }
                let networks = NetworkCache(maxSize: n, fullSort: fullSort)
                for b in 0..<bands {
                    let extractors = orderStats.map { s in
                        (statistic: s.statistic, out: outs[s.first + b].assumingMemoryBound(to: UInt16.self))
                    }
                    kernel.run(values: base + b * pixels, counts: counts, extractors: extractors, range: parts[part],
                               scratch: scratch, networks: networks)
                }
            }
            for s in pixelStats {
                s.statistic.reduce(stack, range: parts[part], into: Array(outs[s.outputs]))
            }
            if !decodedPlanes.isEmpty, let domain {
                let range = parts[part]
                for (k, i) in decodedPlanes.enumerated() {
                    let stored = UnsafeBufferPointer(start: storedPlanes + k * pixels + range.lowerBound, count: range.count)
                    let out = finalOuts[i].assumingMemoryBound(to: Float.self) + range.lowerBound
                    domain.decode(stored, into: UnsafeMutableBufferPointer(start: out, count: range.count))
                }
            }
        }
        if parts.count == 1 {
            work(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: parts.count, execute: work)
        }
    }
}

/// Every output of `finishArrays`, by array name: uint16 planes in `values`, float32 in
/// `reals`, int32 in `integers`.
public struct CompositeArrays: Sendable, Equatable {
    public var values: [String: [UInt16]]
    public var reals: [String: [Float]]
    public var count: [UInt16]
    public var integers: [String: [Int32]] = [:]
}

/// The reduced window: one median plane per band and the count plane, each `pixelCount` long.
public struct CompositeResult: Sendable, Equatable {
    public var medians: [[UInt16]]
    public var count: [UInt16]
}

/// Splits pixels into contiguous per-thread ranges aligned to whole SIMD blocks.
enum ThreadSplit {
    static func ranges(pixelCount: Int, threads: Int, alignment: Int) -> [Range<Int>] {
        let blocks = (pixelCount + alignment - 1) / alignment
        let parts = max(1, min(threads, blocks))
        var result: [Range<Int>] = []
        var start = 0
        for i in 0..<parts {
            let endBlock = blocks * (i + 1) / parts
            let end = min(endBlock * alignment, pixelCount)
            if end > start { result.append(start..<end) }
            start = end
        }
        return result
    }
}

/// A window of a row-major plane `sourceWidth` pixels wide: columns `col ..< col + width`,
/// rows `row ..< row + height`.
public struct PlaneWindow: Equatable, Sendable, CustomStringConvertible {
    public var sourceWidth: Int, col: Int, row: Int, width: Int, height: Int

    public init(sourceWidth: Int, col: Int, row: Int, width: Int, height: Int) {
        (self.sourceWidth, self.col, self.row, self.width, self.height) = (sourceWidth, col, row, width, height)
    }

    public var description: String { "\(width)×\(height) at (\(col), \(row)) of a plane \(sourceWidth) wide" }
}
