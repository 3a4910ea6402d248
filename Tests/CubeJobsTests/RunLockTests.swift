import CubeJobs
import CubeStore
import Foundation
import Testing

@Suite struct RunLockTests {
    func store() throws -> LocalStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runlock-\(UUID().uuidString)")
        return LocalStore(root: dir.path)
    }

    @Test func secondCoordinatorIsRefusedThenTakesOverAStaleLock() throws {
        let s = try store()
        let first = try RunLock.acquire(store: s, executor: "local")
        #expect(throws: JobError.self) { try RunLock.acquire(store: s, executor: "local") }
        // A lock with an old heartbeat (another host, so no pid check) is stale and taken over.
        var h = first.holder
        h.host = "elsewhere"
        h.heartbeat -= 1000
        try s.put(RunLock.key, JSONEncoder().encode(h))
        let second = try RunLock.acquire(store: s, executor: "local")
        #expect(try RunLock.read(s)?.token == second.holder.token)
        // The first run's heartbeat now fails with Lost, and its release leaves the new lock.
        #expect(throws: RunLock.Lost.self) { try first.heartbeat() }
        first.release()
        #expect(try RunLock.read(s)?.token == second.holder.token)
        try second.heartbeat()
        second.release()
        #expect(try RunLock.read(s) == nil)
    }
}
