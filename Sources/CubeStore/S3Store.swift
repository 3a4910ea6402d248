import CubeCore
import Foundation
import Synchronization
import HTTPClient

/// A store in an S3 bucket (AWS, or any S3-compatible server), under a key prefix.
///
/// Every object is written with one PUT, which S3 makes atomic: a reader sees the old object or
/// the whole new one. `createIfAbsent` is a conditional PUT (`If-None-Match: *`, answered 412
/// when the key exists); a server that does not implement it (501, or 400 NotImplemented) gets
/// a HEAD-then-PUT fallback, which is not atomic against a racing writer (documented in
/// docs/object-storage.md). Requests are signed with AWS Signature Version 4 by libcurl
/// (anonymous when there are no credentials) and retried on 429/5xx/timeouts with backoff.
/// Thread safe: one connection, used by one request at a time.
public final class S3Store: Store, Sendable {
    public let bucket: String
    /// Key prefix inside the bucket, without trailing "/" ("" = bucket root).
    public let prefix: String
    public let aws: AWSEnvironment
    /// libcurl's easy handle is not thread safe: requests take turns.
    private let client: Mutex<HTTPClient>
    /// Whether the server honours `If-None-Match: *`; learnt on the first refusal (read and
    /// written by whichever thread creates an object).
    private let conditionalPut = Atomic<Bool>(true)
    private var conditionalPutWorks: Bool {
        get { conditionalPut.load(ordering: .relaxed) }
        set { conditionalPut.store(newValue, ordering: .relaxed) }
    }

    /// `location` is `s3://bucket[/prefix]`.
    public init(location: String, aws: AWSEnvironment, retry: RetryPolicy = RetryPolicy()) throws {
        guard location.lowercased().hasPrefix("s3://") else {
            throw StoreError.unsupported(location: location, reason: "not an s3:// URL")
        }
        let rest = location.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = String(parts.first ?? "")
        guard Self.isValidBucket(bucket) else {
            throw StoreError.unsupported(location: location, reason: "'\(bucket)' is not a valid bucket name")
        }
        var prefix = parts.count > 1 ? String(parts[1]) : ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        if !prefix.isEmpty {
            do { try StoreKey.validate(prefix) } catch {
                throw StoreError.unsupported(location: location, reason: "the key prefix is not a safe path")
            }
        }
        self.bucket = bucket
        self.prefix = prefix
        self.aws = aws
        client = Mutex(try HTTPClient(configuration: .init(retry: retry, timeout: 300, connectTimeout: 20, signing: aws.signing)))
    }

    public var description: String { "s3://\(bucket)\(prefix.isEmpty ? "" : "/" + prefix)" }

    static func isValidBucket(_ name: String) -> Bool {
        guard (3...63).contains(name.count), let first = name.first, let last = name.last else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }
            && (first.isLowercase || first.isNumber) && (last.isLowercase || last.isNumber)
    }

    // MARK: URLs

    private func objectKey(_ key: String) -> String { prefix.isEmpty ? key : prefix + "/" + key }

    private func url(forObject key: String) throws -> URL {
        guard let url = URL(string: aws.objectURL(bucket: bucket, key: objectKey(key))) else {
            throw StoreError.invalidKey(key: key, reason: "cannot form an S3 URL")
        }
        return url
    }

    /// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters.
    static func encode(_ s: String) -> String { AWSEnvironment.encode(s) }

    private func headers(_ extra: [(String, String)] = []) -> HTTPHeaders {
        var h = HTTPHeaders()
        // libcurl signs with this payload hash as given (S3 accepts an unsigned payload).
        h.add("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        if aws.requesterPays { h.add("x-amz-request-payer", "requester") }
        for (k, v) in extra { h.add(k, v) }
        return h
    }

    private func call(_ operation: String, _ key: String,
                      _ body: (HTTPClient) throws -> HTTPResponse) throws -> HTTPResponse {
        do {
            return try client.withLock { try body($0) }
        } catch let e as HTTPError {
            throw e
        } catch {
            throw StoreError.remote(operation: operation, key: key, store: description, message: "\(error)")
        }
    }

    private func remote(_ operation: String, _ key: String, _ error: HTTPError) -> StoreError {
        .remote(operation: operation, key: key, store: description, message: Self.message(error))
    }

    /// The S3 error code and message from an error body, without the URL's query (which may carry tokens).
    static func message(_ e: HTTPError) -> String {
        let code = XMLText.first("Code", in: e.bodyPrefix)
        let text = XMLText.first("Message", in: e.bodyPrefix)
        switch e.kind {
        case .status(let status):
            return "HTTP \(status)" + (code.map { " \($0)" } ?? "") + (text.map { ": \($0)" } ?? "")
                + (e.attempts > 1 ? " (after \(e.attempts) attempts)" : "")
        case .transport(_, let message):
            return message + (e.attempts > 1 ? " (after \(e.attempts) attempts)" : "")
        }
    }

    // MARK: Store

    public func get(_ key: String) throws -> Data? {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        do {
            return try call("read", key) { client in try client.request(method: "GET", url: url, headers: headers()) }.body
        } catch let e as HTTPError {
            if e.status == 404 { return nil }
            throw remote("read", key, e)
        }
    }

    public func put(_ key: String, _ data: Data) throws {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        do {
            _ = try call("write", key) { client in
                try client.request(method: "PUT", url: url, headers: headers([("Content-Type", "application/octet-stream")]), body: data)
            }
        } catch let e as HTTPError {
            throw remote("write", key, e)
        }
    }

    public func createIfAbsent(_ key: String, _ data: Data) throws -> Bool {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        if conditionalPutWorks {
            do {
                _ = try call("create", key) { client in
                    try client.request(method: "PUT", url: url,
                                       headers: headers([("Content-Type", "application/octet-stream"), ("If-None-Match", "*")]),
                                       body: data)
                }
                return true
            } catch let e as HTTPError {
                if e.status == 412 || e.status == 409 { return false }
                let notImplemented = e.status == 501 || (e.status == 400 && e.bodyPrefix.contains("NotImplemented"))
                guard notImplemented else { throw remote("create", key, e) }
                conditionalPutWorks = false
            }
        }
        // Fallback for servers without conditional writes: not atomic against a racing writer.
        if try exists(key) { return false }
        try put(key, data)
        return true
    }

    public func exists(_ key: String) throws -> Bool {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        do {
            _ = try call("check", key) { client in try client.request(method: "HEAD", url: url, headers: headers()) }
            return true
        } catch let e as HTTPError {
            if e.status == 404 { return false }
            throw remote("check", key, e)
        }
    }

    public func list(prefix: String) throws -> [String] {
        let folder = try StoreKey.folderPrefix(prefix)
        let (keys, _) = try listObjects(folder: folder, delimiter: false)
        return keys.sorted()
    }

    public func listChildren(prefix: String) throws -> StoreChildren {
        let folder = try StoreKey.folderPrefix(prefix)
        let (keys, folders) = try listObjects(folder: folder, delimiter: true)
        return StoreChildren(objects: keys.map { String($0.dropFirst(folder.count)) }.sorted(),
                             folders: folders.map { String($0.dropFirst(folder.count).dropLast()) }.sorted())
    }

    public func delete(_ key: String) throws {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        do {
            _ = try call("delete", key) { client in try client.request(method: "DELETE", url: url, headers: headers()) }
        } catch let e as HTTPError {
            if e.status == 404 { return }
            throw remote("delete", key, e)
        }
    }

    /// ListObjectsV2 over every page. Returns keys and (with a delimiter) sub-folder prefixes,
    /// both relative to the store root.
    private func listObjects(folder: String, delimiter: Bool) throws -> ([String], [String]) {
        let full = prefix.isEmpty ? folder : prefix + "/" + folder
        let strip = prefix.isEmpty ? 0 : prefix.count + 1
        var keys: [String] = []
        var folders: [String] = []
        var token: String?
        var pages = 0
        repeat {
            // Query parameters in sorted order, as the SigV4 canonical request wants them.
            var query: [(String, String)] = []
            if let token { query.append(("continuation-token", token)) }
            if delimiter { query.append(("delimiter", "/")) }
            query.append(("list-type", "2"))
            query.append(("prefix", full))
            let q = query.map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: "&")
            guard let url = URL(string: aws.bucketURL(bucket) + "/?" + q) else {
                throw StoreError.invalidKey(key: folder, reason: "cannot form a list URL")
            }
            let body: Data
            do {
                body = try call("list", folder) { client in try client.request(method: "GET", url: url, headers: headers()) }.body
            } catch let e as HTTPError {
                throw remote("list", folder, e)
            }
            let xml = String(decoding: body, as: UTF8.self)
            for contents in XMLText.all("Contents", in: xml) {
                if let k = XMLText.first("Key", in: contents), k.count > strip { keys.append(String(k.dropFirst(strip))) }
            }
            for common in XMLText.all("CommonPrefixes", in: xml) {
                if let p = XMLText.first("Prefix", in: common), p.count > strip { folders.append(String(p.dropFirst(strip))) }
            }
            token = XMLText.first("IsTruncated", in: xml) == "true" ? XMLText.first("NextContinuationToken", in: xml) : nil
            pages += 1
            if pages > 100_000 { throw StoreError.remote(operation: "list", key: folder, store: description, message: "listing does not end") }
        } while token != nil
        // Temporary names never exist on S3, but keep listings consistent with the local store.
        return (keys.filter { !$0.contains(StoreKey.temporaryMarker) }, folders)
    }
}

/// Just enough XML for S3 responses: the text of elements by name, entities decoded.
enum XMLText {
    static func all(_ tag: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = xml[...]
        let open = "<\(tag)>", close = "</\(tag)>"
        while let a = rest.range(of: open), let b = rest.range(of: close, range: a.upperBound..<rest.endIndex) {
            out.append(String(rest[a.upperBound..<b.lowerBound]))
            rest = rest[b.upperBound...]
        }
        return out
    }

    static func first(_ tag: String, in xml: String) -> String? {
        guard let a = xml.range(of: "<\(tag)>"), let b = xml.range(of: "</\(tag)>", range: a.upperBound..<xml.endIndex) else { return nil }
        return decode(String(xml[a.upperBound..<b.lowerBound]))
    }

    static func decode(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].firstIndex(of: ";") {
                let entity = s[s.index(after: i)..<semi]
                var replacement: String?
                switch entity {
                case "amp": replacement = "&"
                case "lt": replacement = "<"
                case "gt": replacement = ">"
                case "quot": replacement = "\""
                case "apos": replacement = "'"
                default:
                    if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let u = UnicodeScalar(v) {
                        replacement = String(Character(u))
                    } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let u = UnicodeScalar(v) {
                        replacement = String(Character(u))
                    }
                }
                if let replacement {
                    out += replacement
                    i = s.index(after: semi)
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }
}

extension AWSEnvironment {
    /// How requests to S3 are signed (nil: anonymous).
    public var signing: RequestSigning? {
        credentials.map {
            .awsSigV4(provider: "aws:amz:\(region):s3", accessKeyID: $0.accessKeyID,
                      secretAccessKey: $0.secretAccessKey, sessionToken: $0.sessionToken)
        }
    }

    /// The bucket's base URL (no trailing slash): the endpoint (path style or virtual host),
    /// else AWS's regional one.
    public func bucketURL(_ bucket: String) -> String {
        if let endpoint {
            var base = endpoint.absoluteString
            while base.hasSuffix("/") { base.removeLast() }
            if pathStyle { return base + "/" + bucket }
            let scheme = endpoint.scheme ?? "https"
            let hostPort = base.dropFirst(scheme.count + 3)
            return "\(scheme)://\(bucket).\(hostPort)"
        }
        return pathStyle ? "https://s3.\(region).amazonaws.com/\(bucket)" : "https://\(bucket).s3.\(region).amazonaws.com"
    }

    /// The HTTP URL of object `key` (each path segment percent-encoded as SigV4 expects).
    public func objectURL(bucket: String, key: String) -> String {
        bucketURL(bucket) + "/" + key.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.encode(String($0)) }.joined(separator: "/")
    }

    /// Headers every S3 request of this environment carries.
    public var requestHeaders: [String] {
        ["x-amz-content-sha256: UNSIGNED-PAYLOAD"] + (requesterPays ? ["x-amz-request-payer: requester"] : [])
    }

    static func encode(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) {
                out.append(c)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

// MARK: conditional replace (ConditionalStore)

extension S3Store: ConditionalStore {
    /// GET with the object's ETag (the version `replace` compares against).
    public func getVersioned(_ key: String) throws -> (data: Data, version: String)? {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        do {
            let response = try call("read", key) { client in try client.request(method: "GET", url: url, headers: headers()) }
            guard let etag = response.headers["ETag"] else {
                throw StoreError.remote(operation: "read", key: key, store: description, message: "the response has no ETag")
            }
            return (response.body, etag)
        } catch let e as HTTPError {
            if e.status == 404 { return nil }
            throw remote("read", key, e)
        }
    }

    /// PUT with `If-Match: <etag>`: S3 answers 412 when the object changed, atomically. A
    /// server without conditional writes (501) is an error here, never a silent overwrite.
    public func replace(_ key: String, _ data: Data, ifMatch version: String) throws -> String? {
        try StoreKey.validate(key)
        let url = try url(forObject: key)
        do {
            let response = try call("replace", key) { client in
                try client.request(method: "PUT", url: url,
                                   headers: headers([("Content-Type", "application/octet-stream"), ("If-Match", version)]),
                                   body: data)
            }
            if let etag = response.headers["ETag"] { return etag }
            return try getVersioned(key)?.version
        } catch let e as HTTPError {
            if e.status == 412 || e.status == 409 || e.status == 404 { return nil }
            throw remote("replace", key, e)
        }
    }
}
