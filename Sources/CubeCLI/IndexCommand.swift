import ArgumentParser
import ChunkWorker
import CubeStore
import Foundation
import SceneIndex

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build the cube's scene and COG header index (init and run do it when missing).",
        discussion: """
        Searches the catalog once per time bin over the whole cube, reads the header of every \
        needed COG once (many requests in flight), and stores both under _cube/index/, so \
        workers make no catalog search and read no header. Jobs whose chunk meets no scene \
        are recorded done (empty) at once. The index pins the build: a resumed run uses the \
        same items and objects until --refresh (which also reconsiders the jobs an earlier \
        index found empty). See docs/scene-index.md.
        """
    )

    @Argument(help: "The cube's store (a folder or s3:// location written by `cube init`).")
    var store: String

    @Flag(help: "Search and read the headers again even if the store has an index.")
    var refresh = false

    @Option(help: "Header requests in flight at once.")
    var connections = 32

    @Flag(name: .customLong("no-headers"),
          help: "Index the scenes only, not their COG headers (workers then read each header themselves).")
    var noHeaders = false

    func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let target = try openStore(store)
            try ensureIndex(target, refresh: refresh, connections: connections, headers: !noHeaders, verbose: true)
        }
    }
}

/// Builds the scene index of the cube in `store` when it has none (or `refresh`), printing a
/// one-line summary on standard error.
func ensureIndex(_ store: any Store, refresh: Bool = false, connections: Int = 32, headers: Bool = true,
                 verbose: Bool = false) throws {
    let cube = try OpenCube(store: store)
    var builder = SceneIndexBuilder(spec: cube.spec, plan: cube.plan, store: store, source: try cube.stacSource)
    builder.connections = connections
    if !refresh, let snapshot = try SceneIndexBuilder.snapshot(in: store) {
        let indexed = Set(snapshot.bins.map(\.label))
        if cube.plan.bins.contains(where: { !indexed.contains($0.label) }) {
            // The cube grew (a later time.end): index the new bins only.
            builder.readsHeaders = headers
            if verbose { builder.log = { FileHandle.standardError.write(Data("  \($0)\n".utf8)) } }
            let started = Date()
            if let s = try builder.extend() {
                let added = s.bins.filter { !indexed.contains($0.label) }
                FileHandle.standardError.write(Data("indexed \(added.count) new time bins of \(store): \(added.reduce(0) { $0 + $1.items }) items, \(added.reduce(0) { $0 + $1.empty_jobs }) empty jobs recorded, \(String(format: "%.1f", Date().timeIntervalSince(started))) s (snapshot \(s.snapshot))\n".utf8))
            }
            return
        }
        if let missing = snapshot.headers.failed_transient, missing > 0 {
            // Headers the network kept from an earlier build: read them now, the rest stays pinned.
            let still = try builder.repairHeaders()
            FileHandle.standardError.write(Data("scene index \(snapshot.snapshot): read \(missing - still) of \(missing) COG headers an earlier build could not reach\n".utf8))
        } else if verbose {
            FileHandle.standardError.write(Data("\(store) already has scene index \(snapshot.snapshot) (use --refresh to rebuild it)\n".utf8))
        }
        return
    }
    builder.readsHeaders = headers
    if verbose { builder.log = { FileHandle.standardError.write(Data("  \($0)\n".utf8)) } }
    let s = try builder.build()
    let items = s.bins.reduce(0) { $0 + $1.items }, searches = s.bins.reduce(0) { $0 + $1.searches }
    let empty = s.bins.reduce(0) { $0 + $1.empty_jobs }
    FileHandle.standardError.write(Data("""
        indexed \(store): snapshot \(s.snapshot), \(items) items in \(s.bins.count) bins (\(searches) searches), \
        \(s.headers.indexed) of \(s.headers.assets) COG headers (\(s.headers.requests) requests), \
        \(empty) empty jobs recorded, \(String(format: "%.1f", s.seconds)) s

        """.utf8))
    if s.headers.failed > 0 {
        FileHandle.standardError.write(Data("  \(s.headers.failed) headers unreadable (workers open those assets through GDAL), e.g. \(s.headers.examples.first ?? "")\n".utf8))
    }
}
