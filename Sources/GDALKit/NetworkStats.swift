import CGDAL
import Foundation

/// GDAL's own count of network traffic through `/vsicurl/`, `/vsis3/`, … (process wide).
/// Counting must be enabled before the files are opened.
public enum NetworkStats {
    public struct Snapshot: Equatable, Sendable {
        public var requests = 0
        public var bytesDownloaded = 0
        public init(requests: Int = 0, bytesDownloaded: Int = 0) {
            self.requests = requests
            self.bytesDownloaded = bytesDownloaded
        }
    }

    public static func enable() {
        GDAL.initialize()
        CPLSetConfigOption("CPL_VSIL_NETWORK_STATS_ENABLED", "YES")
    }

    public static func reset() { VSINetworkStatsReset() }

    /// Totals since the last reset (zero when counting is off).
    public static func snapshot() -> Snapshot {
        guard let raw = VSINetworkStatsGetAsSerializedJSON(nil) else { return Snapshot() }
        defer { VSIFree(raw) }
        let json = String(cString: raw)
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let methods = object["methods"] as? [String: Any] else { return Snapshot() }
        var s = Snapshot()
        for case let method as [String: Any] in methods.values {
            s.requests += (method["count"] as? Int) ?? 0
            s.bytesDownloaded += (method["downloaded_bytes"] as? Int) ?? 0
        }
        return s
    }
}
