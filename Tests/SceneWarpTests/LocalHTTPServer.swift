import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// nginx serving a directory on a free loopback port, with byte ranges (what `/vsicurl/` needs;
/// Python's http.server ignores Range). Stopped by `stop()`.
final class LocalHTTPServer {
    let root: URL
    let port: Int
    private let process = Process()

    init(serving root: URL, scratch: URL) throws {
        self.root = root
        port = try Self.freePort()
        let conf = scratch.appendingPathComponent("nginx.conf")
        let s = scratch.path
        try """
        daemon off;
        master_process off;
        pid \(s)/nginx.pid;
        error_log \(s)/error.log;
        events { worker_connections 64; }
        http {
            access_log off;
            client_body_temp_path \(s)/body;
            proxy_temp_path \(s)/proxy;
            fastcgi_temp_path \(s)/fastcgi;
            uwsgi_temp_path \(s)/uwsgi;
            scgi_temp_path \(s)/scgi;
            server {
                listen 127.0.0.1:\(port);
                root \(root.path);
                # A server that ignores Range: whole files with 200.
                location /norange/ { max_ranges 0; }
            }
        }
        """.write(to: conf, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-p", s, "-c", conf.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try waitUntilListening()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func stop() {
        // SIGKILL: a single-process nginx started from a test runner may not see SIGTERM
        // (the runner's blocked signal mask is inherited), and waiting would then hang.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    private func waitUntilListening() throws {
        for _ in 0..<100 {
            if Self.canConnect(port) { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        stop()
        throw TestFailure("nginx did not start on port \(port)")
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = loopback(port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// A port the kernel reports free (bind to 0, read it back, release it).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var addr = loopback(0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw TestFailure("cannot find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
