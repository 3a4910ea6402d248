import ArgumentParser
import CubeServe
import CubeStore
import Foundation

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a cube on a map in the browser.",
        discussion: """
            A local web server: a page with a map (time slider, band combination, stretch), map \
            tiles rendered from the cube's pyramid (the base level when it has none), a pixel's \
            time series on click, and the build's progress while `cube run` is going on. Reads \
            local, s3:// and icechunk: stores (the tip of main, followed as it moves, or the version --at names). Stop it with Ctrl-C.
            """
    )

    @Argument(help: "The cube's store (a folder or s3://bucket/prefix).")
    var store: String

    @Option(help: "Address to listen on (127.0.0.1: this machine only).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8000

    @Option(help: "For an Icechunk store: the version to read (a snapshot id from `cube log`, a tag or a branch). Default: the tip of main.")
    var at: String?

    func run() throws {
        try runReportingErrors {
            guard (0...65535).contains(port) else { throw UsageError("--port must be 0...65535") }
            let service = try CubeService(store: openStore(store, access: .read(version: at)))
            let (host, location) = (host, store)
            try CubeHTTPServer.run(service: service, host: host, port: port) { bound in
                // Unbuffered: a script waits for this line to know the port.
                FileHandle.standardOutput.write(Data("serving \(location) at http://\(host):\(bound)/ (Ctrl-C to stop)\n".utf8))
            }
        }
    }
}
