import Foundation
import Synchronization

/// A coordinator's unit of work on a store (a build, an append, an update): what it writes
/// becomes what readers see only when the session publishes. The one place where stores differ
/// in how a change reaches readers:
/// - plain stores (a folder, `s3://`): every put is visible as it lands, so the coordinator
///   writes in a reader-safe order (chunks outside the published shape first, then the array
///   metadata, the root and consolidated metadata last: `CubeSchema.publish`), and `publish`
///   only marks the point where a new version became visible;
/// - a transactional store (an Icechunk repository): chunk objects and metadata go to new,
///   unreferenced objects, and `publish` writes one commit (manifests, snapshot, transaction
///   log) and moves the branch; a session that never publishes leaves readers where they were.
/// Workers write chunks through the store as usual; only the coordinator publishes.
public protocol WriteSession: AnyObject, Sendable {
    /// Where the session's writes go (chunks, metadata, bookkeeping).
    var store: any Store { get }
    /// Makes every write of the session so far what readers see, as one version. Returns the
    /// version's id (a commit), or nil for a store without versions or when an interim
    /// publication is not made a version of its own (see `SessionOptions`).
    @discardableResult
    func publish(_ note: PublicationNote) throws -> String?
    /// Makes what other processes of the session wrote so far (workers' chunks) readable
    /// through `store`, e.g. before the coordinator builds a bin's pyramid from them.
    func refresh() throws
    /// Whether writes wait for a publication (the coordinator then publishes at the end of a
    /// run even when the cube's shape did not change).
    var hasUnpublishedWrites: Bool { get throws }
}

extension WriteSession {
    public func refresh() throws {}
    public var hasUnpublishedWrites: Bool { get throws { false } }
}

/// How a session turns publications into versions.
public struct SessionOptions: Sendable, Equatable {
    /// Whether interim publications (a bin completed during a run) become versions too, or
    /// only the final one of a run does.
    public var versionEachPublication: Bool

    public init(versionEachPublication: Bool = false) {
        self.versionEachPublication = versionEachPublication
    }
}

/// What a publication says of itself (a commit's message and metadata).
public struct PublicationNote: Sendable, Equatable {
    public var message: String
    public var metadata: [String: String]
    /// A publication along the way (a bin completed) rather than a run's last one.
    public var interim: Bool

    public init(message: String, metadata: [String: String] = [:], interim: Bool = false) {
        self.message = message
        self.metadata = metadata
        self.interim = interim
    }
}

/// Stores that open write sessions of their own kind; every other store writes directly.
public protocol SessionStore: Store {
    func beginSession(_ options: SessionOptions) throws -> any WriteSession
}

/// The session of a plain store: writes land directly and are visible as they land.
public final class DirectSession: WriteSession {
    public let store: any Store
    private let count = Mutex(0)

    public init(store: any Store) { self.store = store }

    public func publish(_ note: PublicationNote) throws -> String? {
        count.withLock { $0 += 1 }
        return nil
    }

    /// Publications so far (for reports and tests).
    public var publications: Int { count.withLock { $0 } }
}

/// Opens the write session of `store`: its own kind for a `SessionStore`, else a direct one.
public func beginSession(_ store: any Store, _ options: SessionOptions = SessionOptions()) throws -> any WriteSession {
    if let s = store as? any SessionStore { return try s.beginSession(options) }
    return DirectSession(store: store)
}
