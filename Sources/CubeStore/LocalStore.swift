#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A store in a local folder. Objects are plain files at `root/<key>`.
///
/// Writes go to a temporary file in the destination folder (named with
/// `StoreKey.temporaryMarker`, invisible to `list`), are fsynced, then renamed into place
/// (`put`) or hard-linked into place (`createIfAbsent`, which fails atomically with EEXIST when
/// another writer won). With `durable` the folder is fsynced too, so a finished write survives
/// a power loss in order: a done record written after its chunks is never durable before them.
public final class LocalStore: Store {
    /// Absolute path of the store folder, without a trailing "/".
    public let root: String
    public let durable: Bool

    public init(root: String, durable: Bool = true) {
        self.root = LocalStore.absolute(root)
        self.durable = durable
    }

    public var description: String { root }

    // MARK: reading

    public func get(_ key: String) throws -> Data? {
        let path = try self.path(of: key)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return nil }
            throw failure("read", key, code)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("read", key, errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        var data = Data(count: Int(info.st_size))
        var filled = 0
        // Read to EOF rather than trusting st_size alone: the file is immutable once renamed
        // into place, but a replaced object may differ in size from what fstat saw.
        while true {
            if filled == data.count { data.count += Swift.max(4096, data.count / 2) }
            let n = data.withUnsafeMutableBytes { buffer in
                read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read", key, errno)
            }
            if n == 0 { break }
            filled += n
        }
        data.count = filled
        return data
    }

    public func exists(_ key: String) throws -> Bool {
        let path = try self.path(of: key)
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return false }
            throw failure("check", key, code)
        }
        return (info.st_mode & S_IFMT) == S_IFREG
    }

    public func list(prefix: String) throws -> [String] {
        let folder = try StoreKey.folderPrefix(prefix)
        var keys: [String] = []
        try walk(folder: folder, into: &keys)
        return keys.sorted()
    }

    public func listChildren(prefix: String) throws -> StoreChildren {
        let folder = try StoreKey.folderPrefix(prefix)
        var objects: [String] = []
        var folders: [String] = []
        try forEachEntry(in: folder) { name, isFolder in
            if isFolder { folders.append(name) } else { objects.append(name) }
        }
        return StoreChildren(objects: objects.sorted(), folders: folders.sorted())
    }

    // MARK: writing

    public func put(_ key: String, _ data: Data) throws {
        let path = try self.path(of: key)
        let temporary = try writeTemporary(for: key, path: path, data: data)
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw failure("write", key, code)
        }
        try syncFolder(of: path, key: key)
    }

    public func createIfAbsent(_ key: String, _ data: Data) throws -> Bool {
        let path = try self.path(of: key)
        let temporary = try writeTemporary(for: key, path: path, data: data)
        // link() fails with EEXIST if the name is taken, atomically, so exactly one racer wins;
        // the winner's object is complete because the temporary file was written first.
        let linked = link(temporary, path)
        let code = errno
        unlink(temporary)
        if linked != 0 {
            if code == EEXIST { return false }
            throw failure("create", key, code)
        }
        try syncFolder(of: path, key: key)
        return true
    }

    public func delete(_ key: String) throws {
        let path = try self.path(of: key)
        if unlink(path) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return }
            throw failure("delete", key, code)
        }
    }

    /// Removes temporary files left by writers that were killed mid-put (their pid is gone on
    /// this machine, or the file is older than `olderThan`). Returns how many were removed.
    /// Temporaries are never visible as objects; this only reclaims their space.
    @discardableResult
    public func removeStaleTemporaries(olderThan: TimeInterval = 24 * 3600) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
        var removed = 0
        let now = Date()
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            guard name.hasPrefix(StoreKey.temporaryMarker) else { continue }
            let path = root + "/" + relative
            let rest = name.dropFirst(StoreKey.temporaryMarker.count)
            let pid = Int32(rest.split(separator: ".").first ?? "") ?? 0
            let dead = pid > 0 && kill(pid, 0) != 0 && errno == ESRCH
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? now
            if dead || now.timeIntervalSince(modified) > olderThan {
                if unlink(path) == 0 { removed += 1 }
            }
        }
        return removed
    }

    // MARK: helpers

    private func path(of key: String) throws -> String {
        try StoreKey.validate(key)
        return root == "/" ? "/" + key : root + "/" + key
    }

    private func failure(_ operation: String, _ key: String, _ code: Int32) -> StoreError {
        .io(operation: operation, key: key, store: root, errno: code,
            message: String(cString: strerror(code)))
    }

    /// Writes `data` to a fresh temporary file next to `path`, fsynced and closed, and returns
    /// its path. On any failure the temporary file is removed before throwing.
    private func writeTemporary(for key: String, path: String, data: Data) throws -> String {
        let folder = Self.parent(of: path)
        try makeFolders(folder, key: key)
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temporary = folder + "/" + StoreKey.temporaryMarker + "\(getpid()).\(suffix)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw failure("write", key, errno) }
        var failedCode: Int32 = 0
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failedCode = errno
                    return
                }
                offset += n
            }
        }
        if failedCode == 0, fsync(fd) != 0 { failedCode = errno }
        // close() can report a deferred write error (NFS, quota), so it counts too.
        if close(fd) != 0, failedCode == 0 { failedCode = errno }
        if failedCode != 0 {
            unlink(temporary)
            throw failure("write", key, failedCode)
        }
        return temporary
    }

    /// mkdir -p that tolerates concurrent creators.
    private func makeFolders(_ folder: String, key: String) throws {
        if mkdir(folder, 0o755) == 0 { return }
        switch errno {
        case EEXIST:
            return
        case ENOENT:
            let up = Self.parent(of: folder)
            guard up != folder else { throw failure("write", key, ENOENT) }
            try makeFolders(up, key: key)
            if mkdir(folder, 0o755) != 0, errno != EEXIST { throw failure("write", key, errno) }
        default:
            throw failure("write", key, errno)
        }
    }

    private func syncFolder(of path: String, key: String) throws {
        guard durable else { return }
        let fd = open(Self.parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw failure("sync", key, errno) }
        defer { close(fd) }
        if fsync(fd) != 0 {
            let code = errno
            // Some filesystems cannot fsync a directory; the data itself is already synced.
            if code != EINVAL && code != ENOTSUP { throw failure("sync", key, code) }
        }
    }

    private func walk(folder: String, into keys: inout [String]) throws {
        var subfolders: [String] = []
        try forEachEntry(in: folder) { name, isFolder in
            if isFolder { subfolders.append(folder + name + "/") } else { keys.append(folder + name) }
        }
        for sub in subfolders { try walk(folder: sub, into: &keys) }
    }

    /// Calls `body(name, isFolder)` for each entry of a store folder ("" = root, else ends in
    /// "/"), skipping temporary files and anything that is neither a file nor a folder.
    /// Symlinks to files count as objects; symlinked folders are not followed (no cycles).
    private func forEachEntry(in folder: String, _ body: (String, Bool) -> Void) throws {
        let path = folder.isEmpty ? root : root + "/" + String(folder.dropLast())
        guard let dir = opendir(path) else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return }
            throw failure("list", folder, code)
        }
        defer { closedir(dir) }
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw failure("list", folder, errno) }
                return
            }
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name == "." || name == ".." || name.contains(StoreKey.temporaryMarker) { continue }
            var kind = Int32(entry.pointee.d_type)
            if kind == Int32(DT_UNKNOWN) || kind == Int32(DT_LNK) {
                var info = stat()
                let wasLink = kind == Int32(DT_LNK)
                let status = wasLink ? stat(path + "/" + name, &info) : lstat(path + "/" + name, &info)
                guard status == 0 else { continue }
                let mode = info.st_mode & S_IFMT
                kind = mode == S_IFREG ? Int32(DT_REG) : (mode == S_IFDIR && !wasLink ? Int32(DT_DIR) : -1)
            }
            if kind == Int32(DT_REG) { body(name, false) }
            else if kind == Int32(DT_DIR) { body(name, true) }
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func absolute(_ path: String) -> String {
        var result = path
        if !result.hasPrefix("/") {
            let cwd = FileManager.default.currentDirectoryPath
            result = result.isEmpty || result == "." ? cwd : cwd + "/" + result
        }
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        return result
    }
}

// MARK: conditional replace (ConditionalStore)

extension LocalStore: ConditionalStore {
    /// The version of a file is its identity: device, inode, size and change time (ns). A
    /// `put` renames a new file into place, so every replacement changes the inode.
    private static func version(_ info: stat) -> String {
        "\(info.st_dev)-\(info.st_ino)-\(info.st_size)-\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
    }

    public func getVersioned(_ key: String) throws -> (data: Data, version: String)? {
        // Read the version before and after: a replacement in between (a rename) shows as a
        // different identity, and the read is retried, so data and version always agree.
        for _ in 0..<16 {
            let path = try self.path(of: key)
            var before = stat()
            if stat(path, &before) != 0 {
                let code = errno
                if code == ENOENT || code == ENOTDIR { return nil }
                throw failure("read", key, code)
            }
            guard let data = try get(key) else { return nil }
            var after = stat()
            if stat(path, &after) == 0, Self.version(before) == Self.version(after) {
                return (data, Self.version(after))
            }
        }
        throw StoreError.io(operation: "read", key: key, store: root, errno: EAGAIN, message: "the object keeps changing")
    }

    /// Compare-and-swap for writers on one machine: an exclusive `flock` on the object's folder
    /// serialises the check and the rename among writers that use this method (the lock is
    /// advisory: a writer that renames without it, like icechunk's own local storage, is not
    /// excluded). Not safe across machines sharing a network file system.
    public func replace(_ key: String, _ data: Data, ifMatch version: String) throws -> String? {
        let path = try self.path(of: key)
        let folder = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let fd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw failure("write", key, code)
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw failure("lock", key, errno) }
        }
        defer { flock(fd, LOCK_UN) }
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return nil }
            throw failure("write", key, code)
        }
        guard Self.version(info) == version else { return nil }
        try put(key, data)
        guard stat(path, &info) == 0 else { throw failure("write", key, errno) }
        return Self.version(info)
    }
}
