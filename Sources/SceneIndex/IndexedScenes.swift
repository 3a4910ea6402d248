import CubeStore
import Foundation
import JSON
import SceneWarp
import StacItems
import StacSearch
import TiffIndex

/// A worker's view of the scene index: the items of one chunk and time bin, read from the one
/// block file that holds them (kept between jobs of the same block), filtered exactly as a
/// catalog search would be, and the COG headers of their assets. No request to the catalog.
public final class IndexedScenes {
    public let store: any Store
    public let snapshot: IndexSnapshot
    private let policy: HrefPolicy
    private let collections: [String]
    private var cachedKey: String?
    private var cachedFeatures: [JSONValue] = []
    private var cachedAssets: [String: IndexedAsset] = [:]

    /// nil when the store has no complete index (the worker then searches the catalog).
    /// `needsOverviews`: the cube reads overview levels, which an index of format 1 does not
    /// record (refused, with the command that rebuilds it).
    public init?(store: any Store, source: StacSource, needsOverviews: Bool = false) throws {
        guard let snapshot = try SceneIndexBuilder.snapshot(in: store) else { return nil }
        guard IndexFormat.readableFormats.contains(snapshot.format) else {
            throw IndexError("the scene index is in format \(snapshot.format), this cube reads \(IndexFormat.formatName): run `cube index STORE --refresh`")
        }
        if needsOverviews, snapshot.format != IndexFormat.formatName {
            throw IndexError("the scene index is in format \(snapshot.format), which does not record COG overview levels, and the spec asks for `overviews`: run `cube index STORE --refresh` (or set `overviews: none`)")
        }
        self.store = store
        self.snapshot = snapshot
        policy = SceneIndexBuilder.hrefPolicy(source)
        collections = source.collections
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
        let result = StacSearcher.select(features: cachedFeatures, hrefPolicy: policy, collections: collections,
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
                      let header = Self.header(headerJSON) ?? (try? decoder.decode(CogHeader.self, from: headerJSON.data(pretty: false)))
                else { continue }
                var remote = RemoteObjects.resolve(href)
                remote?.size = asset[IndexFormat.sizeField]?.doubleValue.map { UInt64($0) }
                remote?.etag = asset[IndexFormat.etagField]?.stringValue
                out[href] = IndexedAsset(href: href, header: header, remote: remote)
            }
        }
        return out
    }
}

extension IndexedScenes {
    /// A stored `cube:cog_header` read straight from the JSON tree (the common case; JSONDecoder
    /// takes the rest, e.g. infinite nodata), validated like any decoded header.
    static func header(_ json: JSONValue) -> CogHeader? {
        func int(_ key: String) -> Int? { json[key]?.intValue }
        func uints(_ key: String) -> [UInt64]? {
            guard let list = json[key]?.arrayValue else { return nil }
            var out = [UInt64]()
            out.reserveCapacity(list.count)
            for v in list {
                guard let n = v.intValue, n >= 0 else { return nil }
                out.append(UInt64(n))
            }
            return out
        }
        guard let width = int("width"), let height = int("height"), let bw = int("block_width"),
              let bh = int("block_height"), let tiled = json["tiled"]?.boolValue, let bits = int("bits_per_sample"),
              let format = int("sample_format"), let spp = int("samples_per_pixel"),
              let planar = int("planar_configuration"), let compression = int("compression"),
              let predictor = int("predictor"), let big = json["big_endian"]?.boolValue,
              let gt = json["geo_transform"]?.arrayValue?.compactMap(\.doubleValue), gt.count == 6,
              let offsets = uints("block_offsets"), let counts = uints("block_byte_counts") else { return nil }
        let epsg = json["epsg"]?.intValue
        guard epsg != nil || json["epsg"] == nil || json["epsg"]?.isNull == true else { return nil }
        var noData: Double?
        switch json["nodata"] {
        case nil, .null?: noData = nil
        case let value?:
            guard let n = value.doubleValue else { return nil }  // numbers, and "NaN" as written
            noData = n
        }
        var overviews: [CogHeader.Overview] = []
        if let levels = json["overviews"], !levels.isNull {
            guard let list = levels.arrayValue else { return nil }
            for level in list {
                func int(_ key: String) -> Int? { level[key]?.intValue }
                func uints(_ key: String) -> [UInt64]? {
                    guard let list = level[key]?.arrayValue else { return nil }
                    var out = [UInt64]()
                    out.reserveCapacity(list.count)
                    for v in list {
                        guard let n = v.intValue, n >= 0 else { return nil }
                        out.append(UInt64(n))
                    }
                    return out
                }
                guard let w = int("width"), let h = int("height"), let bw = int("block_width"),
                      let bh = int("block_height"), let compression = int("compression"),
                      let predictor = int("predictor"), let offsets = uints("block_offsets"),
                      let counts = uints("block_byte_counts") else { return nil }
                overviews.append(CogHeader.Overview(width: w, height: h, blockWidth: bw, blockHeight: bh,
                                                    compression: compression, predictor: predictor,
                                                    blockOffsets: offsets, blockByteCounts: counts))
            }
        }
        var header = CogHeader(width: width, height: height, blockWidth: bw, blockHeight: bh, tiled: tiled,
                               bitsPerSample: bits, sampleFormat: format, samplesPerPixel: spp,
                               planarConfiguration: planar, compression: compression, predictor: predictor,
                               bigEndian: big, geoTransform: gt, epsg: epsg, noData: noData,
                               noDataIsNaN: json["nodata_is_nan"]?.boolValue ?? false,
                               blockOffsets: offsets, blockByteCounts: counts)
        header.overviews = overviews
        return (try? header.validate()) != nil ? header : nil
    }
}

public struct IndexError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
