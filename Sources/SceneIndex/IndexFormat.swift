import CubeCore
import Foundation

/// Where the scene index lives in a cube's store, and its summary record.
///
/// ```
/// _cube/index/snapshot.json            IndexSnapshot: written last, so its presence means complete
/// _cube/index/<bin>/<by>.<bx>.json     a STAC ItemCollection: the items of time bin <bin> that
///                                      meet index block (by, bx), each asset with its COG header
/// ```
/// An index block is `blockChunks` x `blockChunks` chunks: a worker reads the one file of its
/// chunk's block and nothing else. See docs/scene-index.md.
public enum IndexFormat {
    public static let prefix = StoreKeys.indexPrefix
    public static let snapshotKey = StoreKeys.indexSnapshot
    /// Format 2 adds each COG header's overview levels (`overviews`: size, tiling and blocks of
    /// each reduced-resolution IFD). Format 1 indexes are still read (their headers have no
    /// levels, so they serve cubes with `overviews: none` only); a later build writes format 2.
    public static let formatName = "cube-scene-index/2"
    public static let formatWithoutOverviews = "cube-scene-index/1"
    public static let readableFormats = [formatName, formatWithoutOverviews]
    /// Chunks per index block edge: small enough that a block file holds a few hundred items
    /// at most, large enough that a continental bin has a few hundred files, not thousands.
    public static let blockChunks = 16

    public static func blockKey(bin: String, by: Int, bx: Int) -> String { "\(prefix)/\(bin)/\(by).\(bx).json" }

    public static func block(cy: Int, cx: Int) -> (by: Int, bx: Int) { (cy / blockChunks, cx / blockChunks) }

    /// Asset fields the index adds (STAC asset fields of its own namespace, plus `file:size`).
    public static let headerField = "cube:cog_header"
    public static let headerErrorField = "cube:cog_header_error"
    /// Set (true) with an error that was the network's: the next run reads that header again.
    public static let headerRetryField = "cube:cog_header_retry"
    public static let sizeField = "file:size"
    public static let etagField = "cube:etag"
    /// Every field the index adds to an asset (what an update keeps for an unchanged object).
    public static let headerFields = [headerField, headerErrorField, headerRetryField, sizeField, etagField]
}

/// `_cube/index/snapshot.json`: what the cube is built from, and what indexing cost.
public struct IndexSnapshot: Codable, Equatable, Sendable {
    public struct Bin: Codable, Equatable, Sendable {
        public var label: String
        public var items: Int
        /// Catalog searches (one per searched extent; more when a capped result was split).
        public var searches: Int
        /// HTTP requests of those searches, retries and pages included (0 for a local catalog).
        public var requests: Int
        public var blocks: Int
        /// Land jobs of this bin whose chunk meets no item: done (empty) without a worker.
        public var empty_jobs: Int
        /// Those jobs, as "<cy>.<cx>" (the job ledger counts them done).
        public var empty: [String]?
        /// A fingerprint of the bin's items and objects (nil in indexes from before appends).
        public var fingerprint: String?
    }

    public struct Headers: Codable, Equatable, Sendable {
        /// Distinct assets (mask and bands of every indexed item).
        public var assets: Int
        public var indexed: Int
        /// Assets whose header could not be read or parsed: workers open them through GDAL.
        public var failed: Int
        /// Of those, failures of the network or the server: read again by the next `cube run`.
        public var failed_transient: Int?
        public var requests: Int
        public var bytes: Int
        public var seconds: Double
        /// A few of the failures, for the log.
        public var examples: [String]
    }

    public var format: String
    /// A fingerprint of everything indexed (items, hrefs, object sizes and ETags): two builds
    /// with the same snapshot id read the same objects.
    public var snapshot: String
    public var created: String
    public var source: String
    public var collection: String?
    public var block_chunks: Int
    public var bins: [Bin]
    public var headers: Headers
    public var seconds: Double
}

extension IndexSnapshot.Headers {
    public static let zero = IndexSnapshot.Headers(assets: 0, indexed: 0, failed: 0, failed_transient: 0, requests: 0,
                                                   bytes: 0, seconds: 0, examples: [])
}

/// 64-bit FNV-1a, two of them with different seeds for a 128-bit fingerprint: not a security
/// hash, only a stable name for an index's content.
struct Fingerprint {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x8422_2325_cbf2_9ce4

    mutating func add(_ text: String) {
        for byte in text.utf8 {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 1
        }
        a = (a ^ 0xff) &* 0x0000_0100_0000_01b3
        b = (b ^ 0xfe) &* 0x0000_0100_0000_01b3
    }

    var hex: String { String(format: "%016llx%016llx", a, b) }
}
