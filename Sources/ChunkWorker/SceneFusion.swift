import Composite
import CubeCore
import CubeGrid
import CubeSpec
import Foundation
import GDALKit
import HTTPClient
import SceneIndex
import SceneWarp
import Sensors
import StacItems

/// What became of one scene in one target window.
enum SceneOutcome {
    /// The scene filled `pixels` pixels of its observation.
    case used(pixels: Int)
    /// Nothing to take: reason for the job log ("outside the chunk", "no valid pixel", ...).
    case notNeeded(String)
}

/// A scene that cannot be read (missing asset, 404, corrupt or truncated file, wrong CRS):
/// skipped and reported, the job goes on.
struct BrokenScene: Error, CustomStringConvertible {
    let description: String
}

/// How the scenes of one sensor are read: its profile, mask asset and rule, and the asset
/// of each cube band.
struct SensorReading: Sendable {
    /// Index in the spec's sensors (for per-sensor counts).
    let index: Int
    /// The collection it reads ("" for every item of a local file).
    let collection: String
    let profile: any SensorProfile
    /// nil: the sensor has no mask; its first band stands in (valid wherever it has data).
    let maskAsset: String?
    let maskRule: MaskRule
    /// The sensor's domain when its samples are quantised as read (float32 sources), else nil.
    let quantising: ValueDomain?
    /// Asset key per cube band, in band order.
    let bandAssets: [String]
    /// The invalid classes or bits of the mask rule.
    let invalid: [Int]
    /// Morphological filters of each observation's mask (empty: none).
    let filters: MaskFilters

    /// One reading per sensor of the spec.
    static func all(_ spec: CubeSpec) throws -> [SensorReading] {
        try spec.sensors.enumerated().map { i, sensor in
            let rule: MaskRule
            do {
                rule = try sensor.profile.maskRule(invalid: sensor.mask.invalid)
            } catch {
                throw SpecError(spec.sensors.count > 1 ? "mask.\(sensor.collection)" : "mask.invalid", "\(error)")
            }
            return SensorReading(index: i, collection: sensor.collection, profile: sensor.profile, maskAsset: sensor.mask.asset, maskRule: rule,
                                 quantising: sensor.profile.valueDomain.conversion == .quantise ? sensor.profile.valueDomain : nil,
                                 bandAssets: spec.bandAssets(sensor), invalid: sensor.mask.invalid,
                                 filters: sensor.mask.filters)
        }
    }
}

/// The read → mask → fuse stage for one target window: reads a scene's mask first, skips
/// its bands when no pixel is usable (masked, or settled by an earlier scene of the day),
/// else reads the bands and fuses the scene into the observation being built. What differs
/// between sensors (mask asset and rule, band assets, value conversion) comes from the
/// scene's `SensorReading`. Owns reusable plane buffers, so no allocation per scene.
final class SceneFusion {
    let reader: SceneReader
    let sensors: [SensorReading]
    let fusionRule: FusionRule
    let resampling: Resampling
    /// The job's indexed assets by href (empty without a scene index).
    var indexed: [String: IndexedAsset] = [:]
    /// The spec's overview rule, the job's whole chunk (levels are chosen per chunk, not per
    /// strip) and the level chosen for each asset of the job so far.
    var overviews: Overviews = .none
    var chunk: GeoBox?
    private(set) var levels: [String: Int] = [:]

    /// Starts a job: its indexed assets and chunk; levels chosen for the previous job are dropped.
    func begin(indexed: [String: IndexedAsset], chunk: GeoBox) {
        self.indexed = indexed
        self.chunk = chunk
        levels = [:]
    }

    /// The overview level `href` is read at in this job (`SceneReader.overviewLevel`).
    func level(_ href: String) -> Int {
        guard overviews != .none, let chunk else { return 0 }
        if let known = levels[href] { return known }
        let n = (try? reader.overviewLevel(overviews, chunk: chunk, indexed: indexed[href])) ?? 0
        levels[href] = n
        return n
    }

    /// The mask as read: SCL is 8-bit, Landsat QA 16-bit.
    private var maskPlane8: [UInt8] = []
    private var maskPlane16: [UInt16] = []
    /// 1 where a target pixel can still take a value from the scene being read.
    private var neededPlane: [UInt8] = []
    /// Band-major planes in one buffer: band b is bandPlanes[b*pixels ..< (b+1)*pixels].
    private var bandPlanes: [UInt16] = []

    init(reader: SceneReader, sensors: [SensorReading], fusionRule: FusionRule, resampling: Resampling) {
        self.reader = reader
        self.sensors = sensors
        self.fusionRule = fusionRule
        self.resampling = resampling
    }

    /// The reading for items of `collection` (a single-sensor cube reads every item with its
    /// one sensor: the search already kept only its collection).
    func sensor(for collection: String?) -> SensorReading? {
        if sensors.count == 1 { return sensors[0] }
        return sensors.first { $0.collection == collection }
    }

    /// Fuses `scene` into `builder` (whose planes cover `target`). Throws `BrokenScene` for a
    /// scene that cannot be read, and rethrows transient network failures as `TransientFailure`
    /// so the job fails (and is retried) instead of silently losing the scene.
    func fuse(_ scene: StacItem, target: GeoBox, into builder: ObservationBuilder) throws -> SceneOutcome {
        // A dropped connection or a burst of 5xx costs a retry of this scene, not of the job.
        // Nothing reaches the observation before every plane of the scene is read, so a
        // retry starts clean.
        var attempt = 0
        while true {
            do {
                return try fuseOnce(scene, target: target, into: builder)
            } catch let stale as SceneWarpError where stale.kind == .stale {
                // The object changed since it was indexed: the reader now opens it from a
                // fresh header; nothing of this scene reached the observation.
                attempt += 1
                if attempt >= Self.sceneAttempts { throw BrokenScene(description: stale.reason) }
            } catch let failure as TransientFailure {
                attempt += 1
                if attempt >= Self.sceneAttempts { throw failure }
                Thread.sleep(forTimeInterval: RetryPolicy.scenes.jitteredDelay(beforeRetry: attempt))
            }
        }
    }

    static let sceneAttempts = RetryPolicy.scenes.maxAttempts

    private func fuseOnce(_ scene: StacItem, target: GeoBox, into builder: ObservationBuilder) throws -> SceneOutcome {
        guard let sensor = sensor(for: scene.collection) else {
            throw BrokenScene(description: "collection \(scene.collection ?? "none") is not one this cube reads")
        }
        let bandCount = sensor.bandAssets.count
        let pixels = target.width * target.height
        if neededPlane.count != pixels {
            neededPlane = [UInt8](repeating: 0, count: pixels)
            bandPlanes = [UInt16](repeating: 0, count: bandCount * pixels)
        }
        // Without a mask asset the first band is read as the mask: its no data is the mask's.
        let maskKey = sensor.maskAsset ?? sensor.bandAssets[0]
        guard let mask = scene.assets[maskKey] else {
            throw BrokenScene(description: "no '\(maskKey)' (\(sensor.maskAsset == nil ? "band" : "mask")) asset")
        }
        let bandAssets = try sensor.bandAssets.map { key -> StacAsset in
            guard let asset = scene.assets[key] else { throw BrokenScene(description: "no '\(key)' asset") }
            return asset
        }
        let maps: [ValueMap]
        do {
            if sensor.maskAsset != nil { try sensor.profile.checkMask(mask, invalid: sensor.invalid) }
            maps = try bandAssets.map { try sensor.profile.valueMap(item: scene, asset: $0) }
        } catch {
            throw BrokenScene(description: "\(error)")
        }

        let maskPlan = try guarded {
            try reader.plan(href: mask.href, target: target, resampling: .nearest, expectedEPSG: mask.epsg,
                            indexed: indexed[mask.href], overview: level(mask.href))
        }
        if maskPlan.isEmpty { return .notNeeded("outside the chunk") }
        // Only the mask blocks of pixels no earlier scene of the day settled are decoded: a
        // second tile of a pass reads only the part of the chunk the first did not cover.
        let unsettled = neededPlane.withUnsafeMutableBufferPointer { builder.markUnsettled(into: $0) }
        if unsettled == 0 { return .notNeeded("same-day observation already complete") }
        // The mask in its own sample type: 8-bit classes (SCL) or 16-bit bit fields (QA).
        if maskPlan.bytesPerSample == 1 {
            return try fuse(mask: &maskPlane8, maskPlan, bandAssets, maps, unsettled: unsettled, target: target,
                            quantising: sensor.quantising, into: builder)
        }
        return try fuse(mask: &maskPlane16, maskPlan, bandAssets, maps, unsettled: unsettled, target: target,
                        quantising: sensor.quantising, into: builder)
    }

    private func fuse<M: MaskSample & WarpSample>(
        mask maskPlane: inout [M], _ maskPlan: ReadPlan, _ bandAssets: [StacAsset], _ maps: [ValueMap], unsettled: Int,
        target: GeoBox, quantising: ValueDomain?, into builder: ObservationBuilder
    ) throws -> SceneOutcome {
        let pixels = target.width * target.height
        if maskPlane.count != pixels { maskPlane = [M](repeating: 0, count: pixels) }
        try guarded {
            try maskPlane.withUnsafeMutableBufferPointer { mask in
                try neededPlane.withUnsafeBufferPointer { flags in
                    try reader.read(maskPlan, into: mask, needed: unsettled < pixels ? flags : nil, domain: quantising)
                }
            }
        }
        let neededCount = maskPlane.withUnsafeBufferPointer { m in
            neededPlane.withUnsafeMutableBufferPointer { builder.markNeeded(mask: m, into: $0) }
        }
        if neededCount == 0 {
            // Its clouds still count for the day (first-data): later tiles must not fill them.
            try maskPlane.withUnsafeBufferPointer { _ = try builder.settleMasked(mask: $0) }
            return .notNeeded("no usable pixel (masked, nodata or settled by an earlier scene of the day)")
        }

        // Second wave: the needed tiles of every band of the scene go out together.
        let plans = try bandAssets.map { asset in
            try guarded {
                try reader.plan(href: asset.href, target: target, resampling: resampling, expectedEPSG: asset.epsg,
                                indexed: indexed[asset.href], overview: level(asset.href))
            }
        }
        neededPlane.withUnsafeBufferPointer { needed in
            for plan in plans { reader.prefetchBlocks(plan, needed: resampling == .nearest ? needed : nil) }
        }
        for (b, plan) in plans.enumerated() {
            try guarded {
                try bandPlanes.withUnsafeMutableBufferPointer { all in
                    try neededPlane.withUnsafeBufferPointer { needed in
                        try reader.read(plan, into: UnsafeMutableBufferPointer(rebasing: all[(b * pixels)..<((b + 1) * pixels)]),
                                        needed: resampling == .nearest ? needed : nil, domain: quantising)
                    }
                }
            }
        }
        let filled = try bandPlanes.withUnsafeBufferPointer { all in
            let planes = (0..<bandAssets.count).map { b in UnsafeBufferPointer(rebasing: all[(b * pixels)..<((b + 1) * pixels)]) }
            return try maskPlane.withUnsafeBufferPointer { m in
                try builder.addScene(bands: planes, mask: m, maps: maps)
            }
        }
        return filled > 0 ? .used(pixels: filled) : .notNeeded("no valid pixel in the chunk")
    }

    /// Turns reader errors into `BrokenScene` (skip) or `TransientFailure` (fail the job).
    private func guarded<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as SceneWarpError {
            if error.kind == .stale { throw error }
            if error.isTransient {
                reader.clearCaches()
                GDAL.clearNetworkCache()
                throw TransientFailure(description: "\(error)")
            }
            throw BrokenScene(description: error.reason)
        }
    }
}

/// A failure that another attempt may not meet (network down, server overloaded): the job
/// fails rather than skipping data, and the coordinator retries it.
public struct TransientFailure: Error, CustomStringConvertible {
    public let description: String
}
