import CubeGrid
import Foundation
import GDALKit
import HTTPClient
import SceneWarp
import Testing

@Suite(.serialized) struct HTTPTests {
    @Test func cogOverHTTPEqualsLocalReadAndFetchesOnlyTheWindow() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let www = dir.url.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        let src = try makeCOG(in: dir, name: "www/B04.tif", width: 1024, height: 1024,
                              geoTransform: GeoTransform(500_000, 10, 0, 5_000_040, 0, -10), epsg: 32632,
                              data: randomSamples(1024 * 1024, seed: 10, maxValue: UInt16(60_000)))
        let server = try LocalHTTPServer(serving: www, scratch: dir.url)
        defer { server.stop() }

        let res = 1.0 / 3600
        let target = GeoBox(crs: .lonLat, resolutionX: res, resolutionY: res, ix0: Int((9.02 / res).rounded(.down)),
                            iy0: Int((45.12 / res).rounded(.up)), width: 60, height: 40, chunk: 256)
        NetworkStats.enable()
        NetworkStats.reset()
        let href = "\(server.baseURL)/B04.tif"
        let reader = SceneReader()
        let plan = try reader.plan(href: href, target: target, expectedEPSG: 32632)
        let fetchedBefore = RangeFetcher.totalBytes
        let remote: [UInt16] = try reader.read(plan)
        let network = NetworkStats.snapshot()
        let fetched = RangeFetcher.totalBytes - fetchedBefore
        let local: [UInt16] = try SceneReader().read(href: src.path, target: target)

        #expect(remote == local)
        #expect(remote.filter { $0 != 0 }.count == remote.count)
        // Only the header and the blocks under the window came over the wire.
        let fileSize = try #require(try FileManager.default.attributesOfItem(atPath: src.path)[.size] as? Int)
        #expect(network.requests > 0)
        // Tiles come through cube's range fetcher, the header through GDAL.
        #expect(reader.stats.tilePlanes == 1)
        #expect(fetched > 0)
        let downloaded = network.bytesDownloaded + fetched
        #expect(downloaded < fileSize / 3, "downloaded \(downloaded) of \(fileSize) bytes")

        // A missing object (404) is an open error naming the href.
        let missing = "\(server.baseURL)/missing/B04.tif"
        do {
            _ = try reader.plan(href: missing, target: target)
            Issue.record("a 404 should throw")
        } catch let error as SceneWarpError {
            #expect(error.kind == .open)
            #expect(error.description.contains(missing))
        }
    }

    @Test func rangeFetcherFillsBuffersAndRefusesBadAnswers() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let www = dir.url.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www.appendingPathComponent("norange"), withIntermediateDirectories: true)
        let bytes = Data(randomSamples(3_000_000, seed: 21, maxValue: UInt8(255)))
        try bytes.write(to: www.appendingPathComponent("blob.bin"))
        try bytes.write(to: www.appendingPathComponent("norange/blob.bin"))
        let server = try LocalHTTPServer(serving: www, scratch: dir.url)
        defer { server.stop() }
        let url = "\(server.baseURL)/blob.bin"
        let fetcher = try RangeFetcher(maxParallel: 3)

        func fetch(_ url: String, _ ranges: [(UInt64, Int)]) throws -> [Data] {
            let pointers = ranges.map { UnsafeMutableRawPointer.allocate(byteCount: $0.1, alignment: 16) }
            defer { pointers.forEach { $0.deallocate() } }
            try fetcher.fetch(url: url, offsets: ranges.map(\.0), sizes: ranges.map(\.1), into: pointers)
            return zip(pointers, ranges).map { Data(bytes: $0.0, count: $0.1.1) }
        }
        // More ranges than parallel requests, of every size, up to the last byte.
        var ranges: [(UInt64, Int)] = []
        for i in 0..<20 {
            let offset = UInt64(i * 140_000 + i * i)
            ranges.append((offset, 1 + (i * 7_919) % 60_000))
        }
        ranges.append((UInt64(bytes.count - 10), 10))
        ranges.append((0, 1))
        let before = RangeFetcher.totalBytes
        let got = try fetch(url, ranges)
        for (r, d) in zip(ranges, got) { #expect(d == bytes[Int(r.0)..<(Int(r.0) + r.1)]) }
        let asked = ranges.map(\.1).reduce(0, +)
        #expect(RangeFetcher.totalBytes - before >= asked)  // process-wide: other suites may fetch too
        // Bad answers are errors, never short or wrong data.
        #expect(throws: TransportError.self) { _ = try fetch(url, [(UInt64(bytes.count - 5), 10)]) }     // past the end
        #expect(throws: TransportError.self) { _ = try fetch("\(server.baseURL)/missing.bin", [(0, 10)]) }  // 404
        #expect(throws: TransportError.self) {                                                           // Range ignored
            _ = try fetch("\(server.baseURL)/norange/blob.bin", [(1000, 10)])
        }
        let whole = try fetch("\(server.baseURL)/norange/blob.bin", [(0, bytes.count)])
        #expect(whole[0] == bytes)
        server.stop()
        #expect(throws: TransportError.self) { _ = try fetch(url, [(0, 10)]) }                       // refused
    }
}
