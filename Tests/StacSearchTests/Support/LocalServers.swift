import Foundation
import HTTPClient
#if canImport(Glibc)
import Glibc
#endif

/// Paths inside the repository, found from this file's location.
enum RepoPaths {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fakeServer = root.appendingPathComponent("Tests/StacSearchTests/python/fake_stac_server.py").path
    static let venvPython = root.appendingPathComponent(".venv/bin/python").path
    static let rustac = root.appendingPathComponent(".venv/bin/rustac").path

    static var python: String {
        FileManager.default.isExecutableFile(atPath: venvPython) ? venvPython : "/usr/bin/python3"
    }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stacsearch-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

struct ServerError: Error, CustomStringConvertible {
    var description: String
}

/// A child process serving HTTP on 127.0.0.1, stopped by pid in `stop()`. Spawned with
/// posix_spawn and reaped with bounded waits: Foundation's `Process.waitUntilExit` would block a
/// test thread forever on a child that ignores SIGTERM (`rustac serve` does).
final class LocalServer {
    let pid: pid_t
    let baseURL: URL

    private init(pid: pid_t, port: Int) {
        self.pid = pid
        self.baseURL = URL(string: "http://127.0.0.1:\(port)")!
    }

    /// The Python fake server; it picks a free port and writes it to a file we poll.
    static func fake(items: Data? = nil, in dir: TempDir) throws -> LocalServer {
        let portFile = dir.url.appendingPathComponent("port-\(UUID().uuidString)").path
        var args = [RepoPaths.fakeServer, portFile]
        if let items {
            let itemsFile = dir.url.appendingPathComponent("fake-items-\(UUID().uuidString).json")
            try items.write(to: itemsFile)
            args.append(itemsFile.path)
        }
        let pid = try spawn(RepoPaths.python, args)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, isRunning(pid) {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                return LocalServer(pid: pid, port: port)
            }
            usleep(50_000)
        }
        stop(pid)
        throw ServerError(description: "fake server did not start")
    }

    /// `rustac serve` with the given items file on a free port; ready when `/` answers.
    static func rustac(itemsFile: URL) throws -> LocalServer {
        let port = try freeLoopbackPort()
        let pid = try spawn(RepoPaths.rustac, ["serve", "--create-collections", "-a", "127.0.0.1:\(port)", itemsFile.path])
        let server = LocalServer(pid: pid, port: port)
        let probe = try HTTPClient(configuration: .init(retry: .none, timeout: 2, connectTimeout: 1))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, isRunning(pid) {
            if (try? probe.request(url: server.baseURL)) != nil { return server }
            usleep(100_000)
        }
        stop(pid)
        throw ServerError(description: "rustac serve did not come up on port \(port)")
    }

    func stop() { LocalServer.stop(pid) }

    private static func spawn(_ executable: String, _ args: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw ServerError(description: "cannot start \(executable): error \(rc)") }
        return pid
    }

    private static func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// SIGTERM, up to 3 s to exit, then SIGKILL; always reaped.
    private static func stop(_ pid: pid_t) {
        guard isRunning(pid) else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            if !isRunning(pid) { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// Binds port 0 on 127.0.0.1 to learn a free port, then releases it.
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError(description: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard bound == 0 else { throw ServerError(description: "bind() failed") }
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw ServerError(description: "getsockname() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
