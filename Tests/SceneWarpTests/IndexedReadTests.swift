import CubeGrid
import Foundation
import GDALKit
import HTTPClient
import JSON
@testable import SceneIndex
@testable import SceneWarp
import StacSearch
import Testing
import TiffIndex

/// Reads that hide latency, against nginx serving GDAL-written COGs: the parallel fetcher,
/// the tile prefetch, the header indexer, and scenes opened from their indexed header.
@Suite(.serialized) struct IndexedReadTests {
    private static let utm = GeoTransform(500_000, 10, 0, 5_000_040, 0, -10)

    private func lonLat() -> GeoBox {
        let res = 1.0 / 3600
        return GeoBox(crs: .lonLat, resolutionX: res, resolutionY: res, ix0: Int((9.02 / res).rounded(.down)),
                      iy0: Int((45.12 / res).rounded(.up)), width: 90, height: 70, chunk: 256)
    }

    @Test func parallelFetcherReportsEachRangeAndNoticesChangedObjects() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let www = dir.url.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        let a = Data(randomSamples(2_000_000, seed: 3, maxValue: UInt8(255)))
        let b = Data(randomSamples(500_000, seed: 4, maxValue: UInt8(255)))
        try a.write(to: www.appendingPathComponent("a.bin"))
        try b.write(to: www.appendingPathComponent("b.bin"))
        let server = try LocalHTTPServer(serving: www, scratch: dir.url)
        defer { server.stop() }
        let fetcher = try ParallelFetcher(maxParallel: 4)

        // Many ranges of two objects at once; one past the end of b; one of a missing object.
        let requests = [
            RangeRequest(url: "\(server.baseURL)/a.bin", offset: 0, size: 1000),
            RangeRequest(url: "\(server.baseURL)/b.bin", offset: 10, size: 20_000),
            RangeRequest(url: "\(server.baseURL)/a.bin", offset: 1_999_000, size: 1000),
            RangeRequest(url: "\(server.baseURL)/b.bin", offset: 499_990, size: 100),
            RangeRequest(url: "\(server.baseURL)/missing.bin", offset: 0, size: 10),
        ] + (0..<20).map { RangeRequest(url: "\(server.baseURL)/a.bin", offset: UInt64($0 * 50_000), size: 4096) }
        let buffers = requests.map { UnsafeMutableRawPointer.allocate(byteCount: $0.size, alignment: 8) }
        defer { buffers.forEach { $0.deallocate() } }
        var outcomes = [RangeOutcome?](repeating: nil, count: requests.count)
        fetcher.fetch(requests, into: buffers) { i, outcome in
            #expect(outcomes[i] == nil, "range \(i) reported twice")
            outcomes[i] = outcome
        }
        func bytes(_ i: Int, _ n: Int) -> Data { Data(bytes: buffers[i], count: n) }
        #expect(outcomes[0] == .ok(objectSize: 2_000_000, etag: outcomes[0].flatMap(Self.etag) ?? "", received: 1000))
        #expect(bytes(0, 1000) == a[0..<1000])
        #expect(bytes(1, 20_000) == b[10..<20_010])
        #expect(bytes(2, 1000) == a[1_999_000..<2_000_000])
        // Past the end: the bytes up to the end, and how many.
        #expect(outcomes[3] == .ok(objectSize: 500_000, etag: outcomes[3].flatMap(Self.etag) ?? "", received: 10))
        #expect(bytes(3, 10) == b[499_990..<500_000])
        guard case .failed(_, let transient)? = outcomes[4] else {
            Issue.record("a 404 should fail: \(String(describing: outcomes[4]))"); return
        }
        #expect(!transient)
        for k in 0..<20 { #expect(bytes(5 + k, 4096) == a[(k * 50_000)..<(k * 50_000 + 4096)]) }
        #expect(!(outcomes[0].flatMap(Self.etag) ?? "").isEmpty, "nginx sends an ETag")

        // Expectations from an index that no longer hold: another size, another ETag.
        let etag = try #require(outcomes[0].flatMap(Self.etag))
        let checks = [
            RangeRequest(url: "\(server.baseURL)/a.bin", offset: 0, size: 100, expectedObjectSize: 2_000_001, expectedETag: etag),
            RangeRequest(url: "\(server.baseURL)/a.bin", offset: 0, size: 100, expectedObjectSize: 2_000_000, expectedETag: "\"other\""),
            RangeRequest(url: "\(server.baseURL)/a.bin", offset: 0, size: 100, expectedObjectSize: 2_000_000, expectedETag: etag),
        ]
        let small = checks.map { _ in UnsafeMutableRawPointer.allocate(byteCount: 100, alignment: 8) }
        defer { small.forEach { $0.deallocate() } }
        var results = [RangeOutcome?](repeating: nil, count: 3)
        fetcher.fetch(checks, into: small) { i, o in results[i] = o }
        guard case .changed? = results[0], case .changed? = results[1], case .ok? = results[2] else {
            Issue.record("\(results)"); return
        }
    }

    static func etag(_ o: RangeOutcome) -> String? {
        if case .ok(_, let etag, _) = o { return etag }
        return nil
    }

    @Test func prefetchMergesNeighboursAndHandsOverEachRange() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let www = dir.url.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        let a = Data(randomSamples(1_000_000, seed: 5, maxValue: UInt8(255)))
        try a.write(to: www.appendingPathComponent("a.bin"))
        let server = try LocalHTTPServer(serving: www, scratch: dir.url)
        defer { server.stop() }
        let prefetch = TilePrefetch(connections: 4, threads: 2, mergeGap: 100)
        let url = "\(server.baseURL)/a.bin"
        // Ten ranges 8 bytes apart (merged into one request), two far apart (requests of their own).
        var ranges: [(offset: UInt64, size: Int)] = (0..<10).map { (UInt64(1000 + $0 * 1008), 1000) }
        ranges += [(500_000, 3000), (900_000, 5)]
        prefetch.request(RemoteObject(url: url, size: 1_000_000), ranges)
        for r in ranges.shuffled() {
            guard case .bytes(let owner, let p) = prefetch.take(url, offset: r.offset, size: r.size) else {
                Issue.record("range at \(r.offset) not prefetched"); continue
            }
            #expect(Data(bytes: p, count: r.size) == a[Int(r.offset)..<(Int(r.offset) + r.size)])
            withExtendedLifetime(owner) {}
        }
        #expect(prefetch.counts.requests == 3)
        // Taken once: a second take is the caller's to fetch.
        guard case .notRequested = prefetch.take(url, offset: 1000, size: 1000) else {
            Issue.record("a taken range should be gone"); return
        }
        // An object that changed since indexing fails its ranges as changed.
        prefetch.request(RemoteObject(url: url, size: 999_999), [(0, 10)])
        guard case .failed(.changed) = prefetch.take(url, offset: 0, size: 10) else {
            Issue.record("a size mismatch should be reported as a changed object"); return
        }
        prefetch.request(RemoteObject(url: url), [(100, 10)])
        prefetch.reset()
        // After a reset nothing queued is waited for (in flight may still land, and is dropped
        // at the next reset).
        _ = prefetch.take(url, offset: 100, size: 10)
    }

    @Test func headerIndexerReadsEachHeaderInOneRequestAndScenesOpenFromIt() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let www = dir.url.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        let data = randomSamples(1024 * 1024, seed: 12, maxValue: UInt16(60_000))
        let cog = try makeCOG(in: dir, name: "www/B04.tif", width: 1024, height: 1024,
                              geoTransform: Self.utm, epsg: 32632, data: data)
        try Data("not a tiff at all".utf8).write(to: www.appendingPathComponent("junk.tif"))
        let server = try LocalHTTPServer(serving: www, scratch: dir.url)
        defer { server.stop() }
        let href = "\(server.baseURL)/B04.tif"

        let indexer = HeaderIndexer(connections: 4)
        let records = indexer.index([href, "\(server.baseURL)/junk.tif", "\(server.baseURL)/gone.tif", cog.path])
        #expect(indexer.requests == 3, "one request per remote object")
        let record = try #require(records[href])
        let header = try #require(record.header)
        let fileBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: cog.path)))
        guard case .header(let direct) = try CogHeader.parse(fileBytes, fileSize: UInt64(fileBytes.count)) else {
            Issue.record("the file's own header should parse"); return
        }
        #expect(header == direct)
        // Stored in the index as JSON and read back by workers without JSONDecoder: the same header.
        let stored = try JSONValue.parse(try JSONEncoder().encode(header))
        #expect(IndexedScenes.header(stored) == header)
        var broken = try #require(stored.objectValue)
        broken["block_offsets"] = .array([.number(1)])
        #expect(IndexedScenes.header(.object(broken)) == nil, "an inconsistent stored header is refused")
        #expect(record.size == UInt64(fileBytes.count))
        #expect(record.etag?.isEmpty == false)
        #expect(records["\(server.baseURL)/junk.tif"]?.error != nil)
        #expect(records["\(server.baseURL)/gone.tif"]?.error != nil)
        #expect(records[cog.path]?.header == direct, "a local file is indexed from disk")

        // Opened from the index: no request before the tiles, and the same pixels as GDAL's read.
        let indexed = IndexedAsset(href: href, header: header,
                                   remote: RemoteObject(url: href, size: record.size, etag: record.etag))
        NetworkStats.enable()
        let reader = SceneReader()
        reader.prefetch = TilePrefetch(connections: 8)
        let gdalBefore = NetworkStats.snapshot().requests
        let plan = try reader.plan(href: href, target: lonLat(), expectedEPSG: 32632, indexed: indexed)
        reader.prefetchBlocks(plan, needed: nil)
        let fromIndex: [UInt16] = try reader.read(plan)
        #expect(NetworkStats.snapshot().requests == gdalBefore, "GDAL made no request")
        #expect(reader.stats.indexedOpens == 1 && reader.stats.datasetsOpened == 0)
        #expect(reader.stats.tilesPrefetched > 0)
        let viaGDAL: [UInt16] = try SceneReader().read(href: cog.path, target: lonLat())
        #expect(fromIndex == viaGDAL)
        #expect(fromIndex.contains { $0 != 0 })
    }

    @Test func aReplacedObjectIsStaleAndReadAgainFromAFreshHeader() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let www = dir.url.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        let data = randomSamples(1024 * 1024, seed: 13, maxValue: UInt16(60_000))
        let cog = try makeCOG(in: dir, name: "www/B04.tif", width: 1024, height: 1024,
                              geoTransform: Self.utm, epsg: 32632, data: data)
        let server = try LocalHTTPServer(serving: www, scratch: dir.url)
        defer { server.stop() }
        let href = "\(server.baseURL)/B04.tif"
        let record = try #require(HeaderIndexer(connections: 2).index([href])[href])
        let indexed = IndexedAsset(href: href, header: try #require(record.header),
                                   remote: RemoteObject(url: href, size: record.size, etag: record.etag))
        let expected: [UInt16] = try SceneReader().read(href: cog.path, target: lonLat())

        // The same pixels in another layout: other tiles at other offsets.
        let plain = dir.path("plain.tif")
        try RasterWriter.writeGeoTIFF(path: plain, width: 1024, height: 1024, data: data, geoTransform: Self.utm,
                                      crs: try SpatialReference.epsg(32632), noData: 0)
        try RasterWriter.translate(plain, to: dir.path("relaid.tif"), format: "COG",
                                   creationOptions: ["BLOCKSIZE=128", "COMPRESS=DEFLATE"])
        try FileManager.default.removeItem(atPath: cog.path)
        try FileManager.default.moveItem(atPath: dir.path("relaid.tif"), toPath: cog.path)

        for prefetching in [false, true] {
            let reader = SceneReader()
            if prefetching { reader.prefetch = TilePrefetch(connections: 4) }
            let plan = try reader.plan(href: href, target: lonLat(), indexed: indexed)
            if prefetching { reader.prefetchBlocks(plan, needed: nil) }
            do {
                let _: [UInt16] = try reader.read(plan)
                Issue.record("a replaced object must not be decoded with its old layout")
            } catch let error as SceneWarpError {
                #expect(error.kind == .stale, "\(error)")
            }
            #expect(reader.stats.staleAssets == 1)
            // Planned again, the reader opens the object afresh and reads the right pixels.
            let again = try reader.plan(href: href, target: lonLat(), indexed: indexed)
            let values: [UInt16] = try reader.read(again)
            #expect(values == expected)
            #expect(reader.stats.datasetsOpened == 1)
        }
    }
}
