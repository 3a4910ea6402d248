import CubeJobs
import Foundation
import GDALKit
import HTTPClient
import SceneWarp

/// Bytes and requests a job caused, from the process-wide counters (GDAL's and the range
/// fetcher's) taken before it started.
struct Traffic {
    let bytesBefore: Int
    let fetchedBefore: Int
    let requestsBefore: Int
    let staleAssetsBefore: Int

    init(staleAssets: Int) {
        let network = NetworkStats.snapshot()
        bytesBefore = network.bytesDownloaded
        fetchedBefore = RangeFetcher.totalBytes
        requestsBefore = network.requests + RangeFetcher.totalRequests
        staleAssetsBefore = staleAssets
    }

    var bytesRead: Int {
        max(0, NetworkStats.snapshot().bytesDownloaded - bytesBefore) + (RangeFetcher.totalBytes - fetchedBefore)
    }

    var requests: Int { NetworkStats.snapshot().requests + RangeFetcher.totalRequests - requestsBefore }
}

/// Per-scene bookkeeping across observations and strips: a scene counts as used when it
/// filled a pixel anywhere; a scene that could not be read is skipped everywhere after.
struct SceneLedger {
    private var used = Set<String>()
    private var notNeeded: [String: String] = [:]
    private var order: [String] = []
    private var broken: [String: String] = [:]

    var usedCount: Int { used.count }

    func isBroken(_ id: String) -> Bool { broken[id] != nil }

    var brokenIDs: Set<String> { Set(broken.keys) }

    mutating func note(_ id: String, _ outcome: SceneOutcome) {
        if !order.contains(id) { order.append(id) }
        switch outcome {
        case .used: used.insert(id)
        case .notNeeded(let why): if notNeeded[id] == nil { notNeeded[id] = why }
        }
    }

    mutating func markBroken(_ id: String, _ why: String) {
        if !order.contains(id) { order.append(id) }
        broken[id] = why
        used.remove(id)
    }

    /// Scenes that contributed nothing, in the order they were met, with why.
    var skipped: [SkippedScene] {
        order.compactMap { id in
            if let why = broken[id] { return SkippedScene(id: id, reason: "unreadable: \(why)") }
            if used.contains(id) { return nil }
            return notNeeded[id].map { SkippedScene(id: id, reason: $0) }
        }
    }
}

/// Wall time per phase, accumulated over strips.
struct PhaseClock {
    private(set) var seconds: [String: Double] = [:]
    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func lap(_ phase: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[phase, default: 0] += Double(now - last) / 1e9
        last = now
    }
}
