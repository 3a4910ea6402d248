import CubeStore
import Foundation

/// A build's write session on an Icechunk repository: every publication that makes a version
/// (the run's last one, and with `versionEachPublication` each bin's) is one commit on `main`
/// holding everything staged so far; an interim publication only stages this process's writes.
final class IcechunkSession: WriteSession {
    let icechunk: IcechunkStore
    let options: SessionOptions

    init(store: IcechunkStore, options: SessionOptions) {
        icechunk = store
        self.options = options
    }

    var store: any Store { icechunk }

    func publish(_ note: PublicationNote) throws -> String? {
        if note.interim && !options.versionEachPublication {
            try icechunk.flushPending()
            return nil
        }
        var metadata: [String: MetadataValue] = [:]
        for (k, v) in note.metadata { metadata[k] = .string(v) }
        return try icechunk.commitStaged(message: note.message, metadata: metadata)?.description
    }

    func refresh() throws {
        try icechunk.flushPending()
        try icechunk.refreshStaged()
    }

    var hasUnpublishedWrites: Bool {
        get throws {
            try refresh()
            return icechunk.state.withLock { !$0.staged.isEmpty || !$0.pending.isEmpty }
        }
    }
}

/// A commit that lost the race for `main` to another writer: nothing of ours moved the branch,
/// the other writer's commit stands, and every staged write is kept for the next commit.
public struct CommitConflict: Error, CustomStringConvertible, LocalizedError {
    public let location: String
    public let detail: String
    public var description: String {
        "cannot commit to \(location): another writer committed to main during this commit (\(detail)); nothing is lost: the staged writes are kept, and the next `cube run` commits them on top of the new tip"
    }
    public var errorDescription: String? { description }
}

extension IcechunkStore {
    /// Commits every staged write whose array and coordinates the new tree holds, on top of
    /// the current tip of `main` (which another writer, e.g. icechunk-python, may have moved):
    /// nodes whose zarr.json changed, chunk refs written or removed. Chunks outside their
    /// array's committed shape (bins not yet published) stay staged for a later commit.
    /// Returns the new snapshot id, or nil when nothing changed.
    ///
    /// Crash safety: the staged files it consumes are removed only after the branch moved, and
    /// an intent record written before the move says which, so a crash in between neither
    /// loses a write nor commits one twice (`recoverIntent`).
    @discardableResult
    public func commitStaged(message: String, metadata: [String: MetadataValue]) throws -> ObjectId12? {
        guard writable else { throw refuseRead("a commit") }
        try flushPending()
        try refreshStaged()

        // Commit on the branch as it is now; reads then follow the new tip.
        let parent = try repository.tip(branch: branch)
        if state.withLock({ $0.tip }) != parent {
            state.withLock { s in s.tip = parent; s.snapshot = nil }
        }
        let (_, nodes) = try snapshot()
        let (staged, consumed) = state.withLock { s in (s.staged, s.files) }

        // 1. Nodes: staged metadata that differs from the parent's, and deletions.
        var newNodes: [String: Data] = [:]
        var deleting: [String] = []
        var shapes: [String: (isArray: Bool, chunks: [UInt32])] = [:]
        for (path, node) in nodes {
            if case let .array(shape, _, _) = node.kind { shapes[path] = (true, shape.map(\.numChunks)) } else { shapes[path] = (false, []) }
        }
        for (key, entry) in staged {
            guard case .metadata(let path) = Self.kind(key) else { continue }
            switch entry.value {
            case .metadata(let data):
                let parsed = try ZarrJSON(data, path: path)
                shapes[path] = (parsed.isArray, parsed.shape.map(\.numChunks))
                if nodes[path].map({ Data($0.userData) }) != data { newNodes[path] = data }
            case .deletedMetadata:
                if nodes[path] != nil { deleting.append(path) }
                shapes[path] = nil
            default: break
            }
        }
        // A deleted node takes its children along (and an ancestor's deletion covers its own);
        // nodes staged below it come back as new nodes, unchanged bytes or not.
        deleting = deleting.filter { path in !deleting.contains { $0 != path && Self.isBelow(path, $0) } }
        func underDeleted(_ p: String) -> Bool { deleting.contains { $0 == p || Self.isBelow(p, $0) } }
        for (key, entry) in staged {
            guard case .metadata(let p) = Self.kind(key), case .metadata(let data) = entry.value, underDeleted(p) else { continue }
            newNodes[p] = data
        }

        // 2. Chunks: refs and removals inside their array's new shape; the rest is held.
        var chunks: [String: [ChunkRef]] = [:]
        var removed: [String: [[UInt32]]] = [:]
        var held: [(String, StagedValue)] = []
        var changes = 0
        for (key, entry) in staged where !entry.value.isMetadata {
            guard let (path, coords) = Self.locate(key, isArray: { shapes[$0]?.isArray == true }),
                  let shape = shapes[path]?.chunks, coords.count == shape.count,
                  zip(coords, shape).allSatisfy({ $0 < $1 }) else {
                // A removal outside the shape has nothing to remove that a reader could see;
                // chunks of a deleted array go with it; others wait for their array's shape.
                if entry.value == .deletedChunk { continue }
                if !deleting.isEmpty, Self.locate(key, isArray: { nodes[$0]?.isArray == true }).map({ underDeleted($0.path) }) == true { continue }
                held.append((key, entry.value))
                continue
            }
            switch entry.value {
            case .chunk(let payload):
                chunks[path, default: []].append(ChunkRef(coords: coords, payload: payload))
                changes += 1
            case .deletedChunk:
                // Nothing to remove from an array the parent does not have.
                guard nodes[path]?.isArray == true, !underDeleted(path) else { continue }
                removed[path, default: []].append(coords)
                changes += 1
            default: break
            }
        }
        // Arrays whose refs go in must be part of the new tree (staged or the parent's).
        for path in Set(chunks.keys).union(removed.keys) where nodes[path] == nil && newNodes[path] == nil {
            throw IcechunkError.invalid("chunks of \(path), which is in neither the staged metadata nor snapshot \(parent)")
        }

        let id = ObjectId12.random()
        var heldName: String?
        if !held.isEmpty {
            // Held writes keep their place (by file name) among later staged files.
            let latest = consumed.max() ?? StagingArea.newName()
            heldName = String(latest.dropLast(".json".count)) + ".held-\(ObjectId12.random()).json"
        }
        guard !newNodes.isEmpty || !deleting.isEmpty || changes > 0 else {
            try cleanUp(consumed: consumed, held: held, heldName: heldName, committed: nil)
            return nil
        }
        if let heldName { try base.put(heldName, StagingArea.encode(held.sorted { $0.0 < $1.0 })) }
        let intent = StagingArea.Intent(snapshot: id.description, parent: parent.description, files: consumed.sorted())
        try base.put(StagingArea.intentKey, JSONEncoder().encode(intent))
        do {
            try repository.commit(branch: branch, parent: parent, deleting: deleting, nodes: newNodes, chunks: chunks,
                                  deletingChunks: removed, message: message, metadata: metadata, id: id)
        } catch {
            // The branch did not move: every staged write stays for the next commit.
            try? base.delete(StagingArea.intentKey)
            if let heldName { try? base.delete(heldName) }
            if case .conflict = error as? IcechunkError {
                throw CommitConflict(location: location, detail: "\(error)")
            }
            throw error
        }
        try cleanUp(consumed: consumed, held: held, heldName: heldName, committed: id)
        return id
    }

    /// Whether node path `p` lies below `ancestor` ("/a/b" below "/a" and "/").
    static func isBelow(_ p: String, _ ancestor: String) -> Bool {
        ancestor == "/" ? p != "/" : p.hasPrefix(ancestor + "/")
    }

    /// After a commit (or when nothing was to commit): the consumed staged files go, the held
    /// writes stay known under their new file, and reads follow the new tip.
    private func cleanUp(consumed: Set<String>, held: [(String, StagedValue)], heldName: String?, committed: ObjectId12?) throws {
        if committed == nil, let heldName {
            // Nothing committed: only the held writes remain worth keeping.
            try base.put(heldName, StagingArea.encode(held.sorted { $0.0 < $1.0 }))
        }
        for name in consumed.sorted() { try base.delete(name) }
        if committed != nil { try base.delete(StagingArea.intentKey) }
        state.withLock { s in
            s.files.subtract(consumed)
            s.staged = s.staged.filter { !consumed.contains($0.value.file) }
            if let heldName {
                s.files.insert(heldName)
                for (k, v) in held { Self.apply(&s, file: heldName, key: k, value: v) }
            }
            if let committed {
                s.tip = committed
                s.snapshot = nil
            }
        }
    }

    /// A commit record left by a process that died mid-commit: if its snapshot reached the
    /// repository, the staged files it consumed are committed and go; otherwise it is dropped
    /// and the files are committed by the next commit.
    func recoverIntent() throws {
        guard let data = try base.get(StagingArea.intentKey) else { return }
        guard let intent = try? JSONDecoder().decode(StagingArea.Intent.self, from: data),
              let snapshot = ObjectId12(intent.snapshot) else {
            try base.delete(StagingArea.intentKey)
            return
        }
        if try repository.info().snapshot(snapshot) != nil {
            for name in intent.files { try base.delete(name) }
            let gone = Set(intent.files)
            state.withLock { s in
                s.files.subtract(gone)
                s.staged = s.staged.filter { !gone.contains($0.value.file) }
            }
        }
        try base.delete(StagingArea.intentKey)
    }
}
