import CubeStore
import Foundation
import SceneWarp
import StacSearch
import TiffIndex

/// A worker's view of the scene index: the items of one chunk and time bin, read from the one
/// block file that holds them (kept between jobs of the same block), filtered exactly as a
/// catalog search would be, and the COG headers of their assets. No request to the catalog.
public final class IndexedScenes {
    public let store: any Store
    public let snapshot: IndexSnapshot
    private let policy: HrefPolicy
    private let collection: String?
    private var cachedKey: String?
    private var cachedFeatures: [JSONValue] = []
    private var cachedAssets: [String: IndexedAsset] = [:]

    /// nil when the store has no complete index (the worker then searches the catalog).
    public init?(store: any Store, source: StacSource) throws {
        guard let snapshot = try SceneIndexBuilder.snapshot(in: store) else { return nil }
        guard snapshot.format == IndexFormat.formatName else {
            throw IndexError("the scene index is in format \(snapshot.format), this cube reads \(IndexFormat.formatName): run `cube index STORE --refresh`")
        }
        self.store = store
        self.snapshot = snapshot
        policy = SceneIndexBuilder.hrefPolicy(source)
        switch source {
        case .api(_, let c): collection = c
        case .file(_, let c): collection = c
        }
    }

    /// The items of bin `label` over `footprint`, as a search would return them, and the
    /// indexed headers of their assets by href.
    public func search(bin label: String, cy: Int, cx: Int, query: SearchQuery) throws
        -> (result: SearchResult, assets: [String: IndexedAsset]) {
        let block = IndexFormat.block(cy: cy, cx: cx)
        let key = IndexFormat.blockKey(bin: label, by: block.by, bx: block.bx)
        if key != cachedKey {
            guard let data = try store.get(key) else {
                throw IndexError("the scene index has no \(key): it is incomplete; run `cube index STORE --refresh`")
            }
            let collection: JSONValue
            do { collection = try JSONValue.parse(data) } catch {
                throw IndexError("\(key) is not JSON: the scene index is damaged; run `cube index STORE --refresh`")
            }
            cachedFeatures = collection["features"]?.arrayValue ?? []
            cachedAssets = try Self.assets(in: cachedFeatures, policy: policy)
            cachedKey = key
        }
        let result = StacSearcher.select(features: cachedFeatures, hrefPolicy: policy, collection: collection,
                                         query: query)
        return (result, cachedAssets)
    }

    /// Every indexed header of `features`, by resolved href. A header that does not decode
    /// or validate is left out (the asset is then opened through GDAL).
    static func assets(in features: [JSONValue], policy: HrefPolicy) throws -> [String: IndexedAsset] {
        var out: [String: IndexedAsset] = [:]
        let decoder = JSONDecoder()
        for feature in features {
            for (_, asset) in feature["assets"]?.objectValue ?? [:] {
                guard let raw = asset["href"]?.stringValue, let href = policy.resolve(raw),
                      let headerJSON = asset[IndexFormat.headerField],
                      let header = try? decoder.decode(CogHeader.self, from: headerJSON.serialized()) else { continue }
                var remote = RemoteObjects.resolve(href)
                remote?.size = asset[IndexFormat.sizeField]?.doubleValue.map { UInt64($0) }
                remote?.etag = asset[IndexFormat.etagField]?.stringValue
                out[href] = IndexedAsset(href: href, header: header, remote: remote)
            }
        }
        return out
    }
}

public struct IndexError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
