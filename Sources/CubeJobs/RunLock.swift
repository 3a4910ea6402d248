import CubeCore
import CubeStore
import Foundation
import Synchronization

/// One coordinator per store: `_cube/run.lock`, created atomically (`createIfAbsent`), kept
/// fresh by a heartbeat and removed at the end of the run. A second `cube run` refuses with the
/// holder's host, pid and start time. A lock whose holder is gone (same host and the pid is
/// dead, or no heartbeat for `staleAfter`) is taken over, so a SIGKILLed run does not block
/// the next one.
public final class RunLock: Sendable {
    public static let key = StoreKeys.runLock

    public struct Holder: Codable, Equatable, Sendable {
        public var host: String
        public var pid: Int32
        public var token: String
        public var started: String
        public var heartbeat: Double
        public var executor: String
    }

    public let store: any Store
    public let staleAfter: TimeInterval
    /// Written by the heartbeat (a timer thread), read by `release`.
    private let held: Mutex<Holder>
    public var holder: Holder { held.withLock { $0 } }

    private init(store: any Store, holder: Holder, staleAfter: TimeInterval) {
        self.store = store
        self.held = Mutex(holder)
        self.staleAfter = staleAfter
    }

    public static func currentHost() -> String { ProcessInfo.processInfo.hostName }

    /// Takes the lock or throws `JobError` naming the run that holds it.
    public static func acquire(store: any Store, executor: String, staleAfter: TimeInterval = 90) throws -> RunLock {
        let now = Date()
        let me = Holder(host: currentHost(), pid: getpid(), token: UUID().uuidString,
                        started: ISO8601DateFormatter().string(from: now),
                        heartbeat: now.timeIntervalSince1970, executor: executor)
        let data = try JSONEncoder().encode(me)
        for _ in 0..<3 {
            if try store.createIfAbsent(key, data) {
                return RunLock(store: store, holder: me, staleAfter: staleAfter)
            }
            guard let other = try read(store) else { continue }  // released meanwhile: try again
            if let why = staleness(other, staleAfter: staleAfter) {
                FileHandle.standardError.write(Data("cube: taking over the run lock of \(other.host) pid \(other.pid): \(why)\n".utf8))
                try store.delete(key)
                continue
            }
            throw JobError("another `cube run` is building this store (\(other.executor) executor, pid \(other.pid) on \(other.host), started \(other.started)); wait for it, or watch it with `cube status`")
        }
        throw JobError("could not take the run lock \(key) (it keeps changing hands)")
    }

    public static func read(_ store: any Store) throws -> Holder? {
        guard let data = try store.get(key) else { return nil }
        return try? JSONDecoder().decode(Holder.self, from: data)
    }

    /// Why a lock no longer protects a live run, or nil while it does.
    public static func staleness(_ h: Holder, staleAfter: TimeInterval) -> String? {
        if h.host == currentHost(), h.pid > 0, kill(h.pid, 0) != 0, errno == ESRCH {
            return "its process is gone"
        }
        let age = Date().timeIntervalSince1970 - h.heartbeat
        if age > staleAfter { return "no heartbeat for \(Int(age)) s" }
        return nil
    }

    /// Another run took the lock over (or removed it): this run must stop writing.
    public struct Lost: Error, CustomStringConvertible {
        public let description: String
    }

    /// Refreshes the heartbeat; throws `Lost` if another run took the lock over (other errors
    /// are the store's, e.g. a passing network failure: the next heartbeat tries again).
    public func heartbeat() throws {
        let mine = holder
        guard let current = try Self.read(store), current.token == mine.token else {
            let other = (try? Self.read(store)).flatMap { $0 }
            let who = other.map { " (now held by pid \($0.pid) on \($0.host), started \($0.started))" } ?? " (it was removed)"
            throw Lost(description: "this run lost its lock \(Self.key) to another run\(who)")
        }
        let fresh = held.withLock { h -> Holder in h.heartbeat = Date().timeIntervalSince1970; return h }
        try store.put(Self.key, JSONEncoder().encode(fresh))
    }

    /// Seconds between heartbeats: 15, or CUBE_LOCK_HEARTBEAT_SECONDS (for tests).
    public static var heartbeatInterval: Double {
        ProcessInfo.processInfo.environment["CUBE_LOCK_HEARTBEAT_SECONDS"].flatMap(Double.init).map { max(0.05, $0) } ?? 15
    }

    public func release() {
        if let current = try? Self.read(store), current.token == holder.token {
            try? store.delete(Self.key)
        }
    }
}
