import Composite
import CubeJobs
import CubePlan
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import StacSearch

/// An initialised cube opened for building: what every job of a worker shares. Everything
/// comes from the store (spec, plan, layout), so a worker needs nothing but the store location.
public struct OpenCube: Sendable {
    public let store: any Store
    public let spec: CubeSpec
    public let plan: Plan
    public let layout: CubeLayout
    public let writer: ChunkWriter
    public let ledger: JobLedger
    /// The composite's statistics and the arrays they fill.
    public let recipe: CompositeRecipe

    public init(store: any Store) throws {
        let (spec, plan, layout) = try CubeSchema.open(store: store)
        self.store = store
        self.spec = spec
        self.plan = plan
        self.layout = layout
        writer = ChunkWriter(layout: layout, store: store)
        ledger = JobLedger(store: store, plan: plan)
        recipe = spec.recipe
    }

    /// Where the spec's items come from, relative paths resolved as at `cube init`.
    public var stacSource: StacSource {
        get throws {
            switch spec.stac {
            case .api(let url, let collections, _):
                guard let root = URL(string: url), let scheme = root.scheme?.lowercased(),
                      scheme == "http" || scheme == "https" else {
                    throw SpecError("stac.api", "'\(url)' is not an http(s) URL")
                }
                return .api(root, collections: collections)
            case .file(let path, let collections, _):
                return .file(path: spec.resolvePath(path), collections: collections)
            }
        }
    }
}
