import ArgumentParser
import CubeSpec
import Foundation
import Icechunk

@main
struct Cube: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "cube",
        abstract: "Build analysis-ready Zarr datacubes from satellite imagery in a STAC catalog.",
        discussion: """
        A cube spec (YAML) names the target grid, the time bins, the bands and the catalog. \
        `cube init` writes the cube's Zarr schema, its job plan and its scene index; `cube run` \
        builds every job (and appends the bins of a later time.end); `cube update` rebuilds the \
        jobs whose scenes changed in the catalog; `cube worker` builds chunk jobs; `cube plan` shows what a spec would \
        build without writing anything. A store is a folder, s3://bucket/prefix, or an Icechunk \
        repository (icechunk:PATH, icechunk:s3://bucket/prefix), where every build, append and \
        update is one commit: `cube log` lists them, `cube tag` names one.
        """,
        version: version,
        subcommands: [InitCommand.self, PlanCommand.self, IndexCommand.self, RunCommand.self, UpdateCommand.self, WorkerCommand.self, StatusCommand.self, PreviewCommand.self, ServeCommand.self, LogCommand.self, TagCommand.self]
    )

    static func main() {
        // Store kinds beyond folders and s3:// (see StoreRegistry).
        IcechunkStore.register()
        main(nil)
    }
}

/// Runs a command body, turning known errors into one-line messages and exit codes:
/// 2 for bad input (spec, arguments), 1 for everything else.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as SpecError {
        FileHandle.standardError.write(Data("cube: error: \(e)\n".utf8))
        throw ExitCode(2)
    } catch let e as UsageError {
        FileHandle.standardError.write(Data("cube: error: \(e.message)\n".utf8))
        throw ExitCode(2)
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("cube: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

struct UsageError: Error {
    let message: String
    init(_ m: String) { message = m }
}

/// Loads a spec and applies command-line overrides.
func loadSpec(_ path: String, store: String?) throws -> CubeSpec {
    var spec = try CubeSpec.load(path: path)
    if let store { spec.store = store }
    if spec.zarrFormat != 3, spec.store.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("icechunk:") {
        throw UsageError("zarr_format \(spec.zarrFormat) cannot go into \(spec.store): an Icechunk repository holds Zarr v3 only (use zarr_format: 3)")
    }
    return spec
}
