#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import CubeStore

/// Runs only as root where a tiny tmpfs can be mounted (as in the project's dev container);
/// elsewhere the test is skipped with a message.
@Suite struct DiskFullTests {
    static let canMount: Bool = {
        #if os(Linux)
        return geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount")
        #else
        return false
        #endif
    }()

    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func diskFullIsAClearErrorAndLeavesNoPartialFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", folder.path]) == 0 else {
            Issue.record("mounting a tmpfs failed although running as root")
            return
        }
        defer { _ = run("/bin/umount", [folder.path]) }
        let store = LocalStore(root: folder.path)
        try store.put("small", Data("ok".utf8))
        let tooBig = Data(repeating: 7, count: 1 << 20)
        #expect {
            try store.put("red/c/0/0/0", tooBig)
        } throws: { error in
            guard let error = error as? StoreError, error.errno == ENOSPC else { return false }
            let text = error.description
            return text.contains("red/c/0/0/0") && text.contains("No space left on device") && text.contains(folder.path)
        }
        #expect(throws: StoreError.self) { _ = try store.createIfAbsent("claim", tooBig) }
        #expect(folder.allFiles() == ["small"], "no partial or temporary file is left")
        #expect(try store.get("small") == Data("ok".utf8))
    }

    private func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
