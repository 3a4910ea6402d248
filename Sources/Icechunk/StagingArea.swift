import CubeCore
import CubeStore
import Foundation

/// One staged change of a Zarr key, not yet in any commit.
enum StagedValue: Equatable, Sendable {
    /// A chunk's bytes: an object under `chunks/`, or inline (small chunks, as icechunk inlines).
    case chunk(ChunkPayload)
    case deletedChunk
    /// A node's zarr.json.
    case metadata(Data)
    case deletedMetadata

    var isMetadata: Bool {
        switch self {
        case .metadata, .deletedMetadata: return true
        case .chunk, .deletedChunk: return false
        }
    }
}

/// The writes of a session that no commit holds yet, shared by every process of a build:
/// each process keeps its own writes in memory and writes them as one staged file before any
/// bookkeeping write (a job's done record, a pyramid marker, the publication record), so that
/// bookkeeping never claims what a crash could lose. The coordinator reads every staged file
/// when it commits; a file's name starts with its time in microseconds, and at one key the
/// entry of the later file wins (a job built again replaces its earlier chunks).
///
/// `_cube/icechunk/staged/<16-digit µs>-<random id>.json`:
/// `{"entries": [{"k": KEY, "c": CHUNK ID, "n": LENGTH} | {"k", "i": INLINE BASE64} |
///                {"k", "d": true} | {"k", "m": ZARR.JSON BASE64} | {"k", "x": true}]}`
/// (chunk, inline chunk, deleted chunk, node metadata, deleted node).
enum StagingArea {
    static let prefix = StoreKeys.icechunkStaged
    /// Written before a commit moves the branch: the snapshot it will be and the staged files
    /// it consumes, so that a crash after the commit but before the clean-up does not commit
    /// those files again (see `IcechunkStore.recoverIntent`).
    static let intentKey = StoreKeys.icechunkCommitIntent

    struct Entry: Codable {
        var k: String
        var c: String?
        var n: UInt64?
        var i: Data?
        var d: Bool?
        var m: Data?
        var x: Bool?

        init(key: String, value: StagedValue) {
            k = key
            switch value {
            case .chunk(.native(let id, _, let length)): c = id.description; n = length
            case .chunk(.inline(let bytes)): i = Data(bytes)
            case .chunk(.virtual): break  // never staged: cube writes native chunks only
            case .deletedChunk: d = true
            case .metadata(let data): m = data
            case .deletedMetadata: x = true
            }
        }

        func value() throws -> StagedValue {
            if let c {
                guard let id = ObjectId12(c), let n else { throw IcechunkError.corrupt("staged entry \(k): chunk id \(c) is not valid") }
                return .chunk(.native(id: id, offset: 0, length: n))
            }
            if let i { return .chunk(.inline([UInt8](i))) }
            if d == true { return .deletedChunk }
            if let m { return .metadata(m) }
            if x == true { return .deletedMetadata }
            throw IcechunkError.corrupt("staged entry \(k) says nothing")
        }
    }

    struct File: Codable {
        var entries: [Entry]
    }

    struct Intent: Codable {
        var snapshot: String
        var parent: String
        var files: [String]
    }

    /// A new staged file name: later names sort after earlier ones written on the same clock.
    static func newName(now: Date = Date()) -> String {
        let micros = UInt64(max(0, now.timeIntervalSince1970 * 1e6))
        let digits = String(micros)
        return prefix + String(repeating: "0", count: max(0, 16 - digits.count)) + digits + "-\(ObjectId12.random()).json"
    }

    static func encode(_ entries: [(String, StagedValue)]) throws -> Data {
        try JSONEncoder().encode(File(entries: entries.map { Entry(key: $0.0, value: $0.1) }))
    }

    static func decode(_ data: Data, name: String) throws -> [(String, StagedValue)] {
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw IcechunkError.corrupt("staged file \(name) is not readable: \(error)")
        }
        return try file.entries.map { ($0.k, try $0.value()) }
    }
}
