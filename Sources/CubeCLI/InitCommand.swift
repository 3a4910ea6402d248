import ArgumentParser
import CubePlan
import CubeSchema
import CubeSpec
import CubeStore
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write the cube's Zarr schema and job plan into the store (no data chunks).",
        discussion: """
        Writes the root group, the (time, y, x) arrays of the composite (one uint16 array per band \
        and statistic, float32 for the geomedian's deviations and spectral indices, int32 for the \
        medoid's dates) and `count`, the x/y and time \
        coordinates with time bounds, the `spatial_ref` grid mapping, consolidated metadata, and \
        the plan of land chunk jobs under `_cube/`, then the scene and COG header index (see \
        `cube index`). Running it again with the same spec does \
        nothing; with a different spec it refuses unless --force is given (which then removes \
        the old cube's objects and says how many). A spec whose only change is a later \
        `time.end` extends the cube in place: the new time bins are indexed and built by \
        `cube run`, and readers see them once they are complete (see docs/updating.md).
        """
    )

    @Argument(help: "The cube spec (YAML).")
    var spec: String

    @Option(help: "Store location (a folder, s3://bucket/prefix, icechunk:PATH or icechunk:s3://bucket/prefix); overrides the spec's `store`.")
    var store: String?

    @Flag(help: "Replace a different cube already in the store.")
    var force = false

    @Flag(name: .customLong("no-index"),
          help: "Do not build the scene index now (`cube run` builds it; a worker without one searches the catalog itself).")
    var noIndex = false

    func run() throws {
        try runReportingErrors {
            let spec = try loadSpec(spec, store: store)
            let plan = try Plan.make(spec)
            let target = try openStore(spec.store, access: .create)
            let outcome = try CubeSchema.initialize(spec: spec, plan: plan, store: target, force: force)
            switch outcome {
            case .created:
                print("initialised \(target): \(plan.grid.width) x \(plan.grid.height) pixels, \(plan.bins.count) time bins, \(plan.landChunkCount) land chunks of \(plan.grid.chunkCount), \(plan.jobCount) jobs")
                let layout = CubeLayout(spec: spec, plan: plan)
                if let inner = layout.innerChunk {
                    print("sharded: each \(plan.grid.chunk)² chunk is one shard of \(inner)² inner chunks")
                }
                if layout.hasPyramid {
                    print("pyramid: \(layout.levels.count - 1) levels above the base (group 0), built by `cube run` as bins complete")
                }
            case .unchanged:
                print("\(target) already holds this cube; nothing to do")
            case .replaced(let n):
                print("replaced the previous cube in \(target) (removed \(n) objects): \(plan.jobCount) jobs")
            case .extended(let from, let to):
                print(extendedMessage(target, from: from, to: to, plan: plan))
            }
            if !noIndex { try ensureIndex(target) }
            // An Icechunk store: the schema becomes the first commit on main.
            if let id = try beginSession(target).publish(PublicationNote(
                message: "\(spec.name): cube init (\(plan.bins.count) time bins, \(plan.jobCount) jobs, no data yet)",
                metadata: ["cube:version": CubeSchema.toolVersion, "spec_digest": CubeSchema.specDigest(spec)])) {
                print("committed \(id) on main")
            }
        }
    }
}

/// What `cube init` / `cube run` say when a spec extended the cube.
func extendedMessage(_ store: any Store, from: Int, to: Int, plan: Plan) -> String {
    guard to > from else { return "\(store): the later time.end adds no time bin; nothing to build" }
    return "extended \(store) from \(from) to \(to) time bins (\(plan.bins[from].label)..\(plan.bins[to - 1].label)): \((to - from) * plan.landChunkCount) new jobs; readers see each new bin once it is complete"
}
