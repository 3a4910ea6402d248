import CubeStore
import Foundation
import GDALKit
import HTTPClient
import SceneWarp
import TiffIndex

/// What the index knows of one asset: its parsed COG header and the object's size and ETag
/// when read, or why it could not be read.
public struct HeaderRecord: Sendable {
    public var header: CogHeader?
    public var size: UInt64?
    public var etag: String?
    public var error: String?
    /// The failure was the network's or the server's (no answer, 5xx, 429): worth another try
    /// by the next `cube run`, unlike a missing object or a file that is not a COG.
    public var transient = false
}

/// Reads the COG headers of many assets at once: a first wave asks every object for its first
/// `prefixBytes` (enough for a COG's whole header, which the COG layout puts first), a second
/// wave asks the few whose header runs longer for exactly what the parser says it needs. Many
/// requests in flight on keep-alive connections, so thousands of headers cost a few round trips.
public final class HeaderIndexer {
    public var prefixBytes = 64 << 10
    /// A header larger than this is refused (a hostile or broken file).
    public var maxHeaderBytes = 16 << 20
    public var attempts = 3
    private let connections: Int
    public private(set) var requests = 0
    public private(set) var bytes = 0

    public init(connections: Int = 32) {
        self.connections = connections
    }

    public func index(_ hrefs: [String]) -> [String: HeaderRecord] {
        var out: [String: HeaderRecord] = [:]
        var remote: [String: RemoteObject] = [:]
        for href in hrefs {
            if let object = RemoteObjects.resolve(href) {
                remote[href] = object
            } else {
                out[href] = readLocal(href)
            }
        }
        if !remote.isEmpty { indexRemote(remote, into: &out) }
        return out
    }

    // MARK: http(s)

    private func indexRemote(_ objects: [String: RemoteObject], into out: inout [String: HeaderRecord]) {
        let urls = Array(objects.keys)
        guard let fetcher = try? ParallelFetcher(maxParallel: connections) else {
            for url in urls { out[url] = HeaderRecord(error: "no HTTP connection pool") }
            return
        }
        var want = Dictionary(uniqueKeysWithValues: urls.map { ($0, prefixBytes) })
        var attempt = Dictionary(uniqueKeysWithValues: urls.map { ($0, 0) })
        while !want.isEmpty {
            let list = want.keys.sorted()
            let sizes = list.map { want[$0]! }
            let buffers = sizes.map { UnsafeMutableRawPointer.allocate(byteCount: $0, alignment: 16) }
            defer { buffers.forEach { $0.deallocate() } }
            let requests = list.indices.map { i in
                RangeRequest(url: objects[list[i]]!.url, offset: 0, size: sizes[i], signing: objects[list[i]]!.signing,
                             headers: objects[list[i]]!.headers)
            }
            var next: [String: Int] = [:]
            var retryDelay = 0.0
            self.requests += requests.count
            fetcher.fetch(requests, into: buffers) { i, outcome in
                let url = list[i]
                switch outcome {
                case .ok(let size, let etag, let received):
                    bytes += received
                    let prefix = UnsafeRawBufferPointer(start: buffers[i], count: received)
                    do {
                        switch try CogHeader.parse(prefix, fileSize: size > 0 ? size : nil) {
                        case .header(let header):
                            out[url] = HeaderRecord(header: header, size: size > 0 ? size : nil,
                                                    etag: etag.isEmpty ? nil : etag)
                        case .needMore(let n) where n > received && n <= maxHeaderBytes && (size == 0 || n <= size):
                            next[url] = n
                        case .needMore(let n):
                            out[url] = HeaderRecord(error: "the header needs \(n) bytes")
                        }
                    } catch {
                        out[url] = HeaderRecord(error: "\(error)")
                    }
                case .failed(let why, let transient) where transient:
                    attempt[url, default: 0] += 1
                    if attempt[url]! < attempts {
                        next[url] = sizes[i]
                        retryDelay = max(retryDelay, 0.25 * Double(1 << attempt[url]!))
                    } else {
                        out[url] = HeaderRecord(error: why, transient: true)
                    }
                case .failed(let why, _), .changed(let why):
                    out[url] = HeaderRecord(error: why)
                }
            }
            if retryDelay > 0 { Thread.sleep(forTimeInterval: retryDelay) }
            want = next
        }
    }

    // MARK: local files and object stores through GDAL

    private func readLocal(_ href: String) -> HeaderRecord {
        let path = gdalPathForIndex(href)
        do {
            let file = try VSIFile(path: path)
            let size = file.size
            var count = prefixBytes
            for _ in 0..<4 {
                let n = size.map { Int(min(UInt64(count), $0)) } ?? count
                let bytes = try file.read(offset: 0, count: n)
                self.bytes += bytes.count
                switch try CogHeader.parse(bytes, fileSize: size) {
                case .header(let header):
                    return HeaderRecord(header: header, size: size, etag: nil)
                case .needMore(let more) where more > n && more <= maxHeaderBytes:
                    count = more
                case .needMore(let more):
                    return HeaderRecord(error: "the header needs \(more) bytes")
                }
            }
            return HeaderRecord(error: "the header keeps growing")
        } catch {
            return HeaderRecord(error: "\(error)")
        }
    }
}

/// The GDAL path of a non-http href (local file, s3://, gs://).
func gdalPathForIndex(_ href: String) -> String {
    let lower = href.prefix(8).lowercased()
    if lower.hasPrefix("s3://") { return "/vsis3/" + href.dropFirst(5) }
    if lower.hasPrefix("gs://") { return "/vsigs/" + href.dropFirst(5) }
    if lower.hasPrefix("file://") { return String(href.dropFirst(7)) }
    return href
}

/// Where an href's bytes are fetched by cube's own range fetcher: http(s) as they are, `s3://`
/// through the bucket's HTTP endpoint with SigV4 signing (the AWS environment of the process,
/// as for the cube's store). nil: local files and anything else, read through GDAL.
enum RemoteObjects {
    static let aws: AWSEnvironment? = try? AWSEnvironment.current()

    static func resolve(_ href: String) -> RemoteObject? {
        let lower = href.prefix(8).lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") { return RemoteObject(url: href) }
        guard lower.hasPrefix("s3://"), let aws else { return nil }
        let rest = href.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else { return nil }
        let bucket = String(rest[..<slash]), key = String(rest[rest.index(after: slash)...])
        guard !key.isEmpty else { return nil }
        return RemoteObject(url: aws.objectURL(bucket: bucket, key: key), signing: aws.signing,
                            headers: aws.requestHeaders)
    }
}
