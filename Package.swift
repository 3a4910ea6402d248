// swift-tools-version:6.0
// The flow runs one way through these modules (scripts/check/deps.py checks the layers):
//   C libraries → JSON → CubeCore (shared value types) → wrappers and models (GDALKit, HTTPClient,
//   TiffIndex, StacItems, Composite) → CubeStore, StacSearch, Sensors → Zarr, Icechunk →
//   CubeSpec → CubeGrid → CubePlan → CubeSchema → CubeJobs (CubePyramid, CubePreview, CubeServe)
//   → SceneWarp, SceneIndex → ChunkWorker, CubeUpdate → CubeRun (coordinator) → CubeCLI
// A target depends only on its own layer or lower ones; CubeSpec links neither GDAL nor libcurl.
// C libraries stay behind the thin wrappers in GDALKit, HTTPClient, CubeStore and Zarr.
import PackageDescription

let package = Package(
    name: "cube",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cube", targets: ["CubeCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries from Debian (libgdal-dev, libblosc-dev, libzstd-dev, libcurl4-openssl-dev).
        .systemLibrary(name: "CGDAL", path: "Sources/CGDAL"),
        .systemLibrary(name: "CBlosc", path: "Sources/CBlosc"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        // libcurl's setopt is variadic, which Swift cannot call: a few typed C shims.
        .target(name: "CCurl", path: "Sources/CCurl", linkerSettings: [.linkedLibrary("curl")]),

        // One JSON value with its reader and deterministic writer (Zarr metadata, STAC, the index).
        .target(name: "JSON", dependencies: []),
        // The value types every layer shares (resampling, the fusion rule, lon/lat footprints,
        // asset paths, the retry policy, the store's `_cube/` keys): no C library below it.
        .target(name: "CubeCore", dependencies: ["JSON"]),
        .target(name: "GDALKit", dependencies: ["CGDAL"]),
        // The STAC item model (items, assets, hrefs, RFC 3339), apart from the search client.
        .target(name: "StacItems", dependencies: ["CubeCore", "JSON"]),
        // The statistics (median, percentiles, geomedian, ...): pure Swift, named by the spec.
        .target(name: "Composite", dependencies: ["CubeCore"]),
        // What differs between sensors (mask, bands, values), per STAC collection.
        .target(name: "Sensors", dependencies: ["Composite", "StacItems"]),
        .target(name: "CubeSpec", dependencies: ["Composite", "CubeCore", "Sensors", .product(name: "Yams", package: "Yams")]),
        .target(name: "CubeGrid", dependencies: ["CubeCore", "CubeSpec", "GDALKit"]),
        .target(name: "HTTPClient", dependencies: ["CCurl", "CubeCore"]),
        .target(name: "CubeStore", dependencies: ["CubeCore", "HTTPClient"]),
        .target(name: "Zarr", dependencies: ["CubeStore", "JSON", "CBlosc", "CZstd"]),
        // Icechunk repositories (spec 2) in a Store: FlatBuffers objects, manifests, commits.
        .target(name: "Icechunk", dependencies: ["CubeCore", "CubeStore", "CZstd"]),
        .target(name: "CubePlan", dependencies: ["CubeCore", "CubeSpec", "CubeGrid", "GDALKit"],
                resources: [.copy("Resources")]),
        .target(name: "CubeSchema", dependencies: [
            "CubeCore", "CubeSpec", "CubeGrid", "CubePlan", "CubeStore", "Zarr", "JSON", "GDALKit", "Composite",
        ]),
        .target(name: "CubeJobs", dependencies: ["CubeCore", "CubePlan", "CubeStore"]),
        // Coarser levels of a cube, built from the level below (reads and writes Zarr only).
        .target(name: "CubePyramid", dependencies: ["CubeCore", "Composite", "CubeSchema", "CubeStore"]),
        .target(name: "StacSearch", dependencies: ["CubeCore", "StacItems", "HTTPClient", "JSON"]),
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate"),
        // COG headers parsed from untrusted bytes, no C library: what a reader needs to fetch tiles.
        .target(name: "TiffIndex", dependencies: []),
        .target(name: "SceneWarp", dependencies: ["CubeCore", "Composite", "CubeGrid", "GDALKit", "HTTPClient", "CDeflate", "TiffIndex"]),
        // The scene and COG header index: built once by the coordinator, read by workers.
        .target(name: "SceneIndex", dependencies: [
            "CubeCore", "StacItems", "CubeSpec", "CubeGrid", "CubePlan", "CubeJobs", "CubeStore", "StacSearch", "SceneWarp", "TiffIndex",
            "HTTPClient", "GDALKit", "JSON",
        ]),
        // `cube update`: the catalog searched again, each job's scenes compared with its done record.
        .target(name: "CubeUpdate", dependencies: [
            "CubeCore", "StacItems", "CubeGrid", "CubeJobs", "CubePlan", "CubePyramid", "CubeSchema", "CubeSpec", "CubeStore", "JSON",
            "SceneIndex", "StacSearch",
        ]),
        .target(name: "ChunkWorker", dependencies: [
            "CubeCore", "StacItems", "CubeSpec", "CubeGrid", "CubePlan", "CubeSchema", "CubeJobs", "CubeStore",
            "StacSearch", "SceneWarp", "SceneIndex", "Composite", "Sensors", "GDALKit", "HTTPClient",
        ]),
        // Benchmark-only code the CLI exposes (`cube worker --decode-floor`), kept out of the worker.
        .target(name: "BenchSupport", dependencies: [
            "CubeCore", "ChunkWorker", "CubeGrid", "CubeJobs", "CubeSpec", "GDALKit", "SceneWarp", "StacSearch",
        ]),
        .target(name: "CubePreview", dependencies: ["CubeSchema", "CubeStore", "GDALKit", "Composite"]),
        // `cube serve`: map tiles from the pyramid, a page with a vendored map library, a
        // pixel's time series and the build's progress, over SwiftNIO.
        .target(name: "CubeServe", dependencies: [
            "CubeSchema", "CubeStore", "CubeJobs", "CubePlan", "CubeGrid", "GDALKit", "CDeflate", "JSON",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], resources: [.copy("Resources")]),
        .target(name: "CubeRun", dependencies: [
            "CubeCore", "CubeJobs", "CubePlan", "CubeSchema", "CubeSpec", "CubeStore", "CubeGrid", "CubePreview", "CubePyramid",
            "HTTPClient", "JSON",
        ]),
        .executableTarget(name: "CubeCLI", dependencies: [
            "CubeCore", "CubeSpec", "CubeGrid", "CubePlan", "CubeSchema", "CubeJobs", "CubeStore", "ChunkWorker",
            "CubeRun", "CubePreview", "CubeServe", "CubeUpdate", "SceneIndex", "GDALKit", "HTTPClient", "BenchSupport", "JSON", "Icechunk",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Test-only: drives the Icechunk module for the end-to-end tests (Tests/python/icechunk).
        .executableTarget(name: "IcechunkFixture", dependencies: ["CubeCore", "Icechunk", "CubeStore", "Zarr", "JSON"]),

        .testTarget(name: "CubeSpecTests", dependencies: ["CubeSpec"]),
        .testTarget(name: "CubeGridTests", dependencies: ["CubeGrid", "CubeSpec", "GDALKit"]),
        .testTarget(name: "CubePlanTests", dependencies: ["CubePlan", "CubeGrid", "CubeSpec"]),
        .testTarget(name: "CubeSchemaTests", dependencies: ["CubeSchema", "CubePlan", "CubeSpec", "CubeStore"]),
        .testTarget(name: "CubePyramidTests", dependencies: ["CubePyramid", "CubeSchema", "CubePlan", "CubeSpec", "CubeStore"]),
        .testTarget(name: "CubeServeTests", dependencies: ["CubeServe", "CubeSchema", "CubePlan", "CubeSpec", "CubeStore"]),
        .testTarget(name: "ZarrTests", dependencies: ["Zarr", "CubeStore", "JSON"], exclude: ["python"]),
        .testTarget(name: "CubeStoreTests", dependencies: ["CubeStore"]),
        .testTarget(name: "IcechunkTests", dependencies: ["Icechunk", "CubeStore"]),
        .testTarget(name: "StacSearchTests", dependencies: ["CubeCore", "StacItems", "StacSearch", "HTTPClient", "JSON"], exclude: ["python"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["CubeCore", "HTTPClient"]),
        .testTarget(name: "SceneWarpTests", dependencies: [
            "CubeCore", "StacItems", "SceneWarp", "SceneIndex", "TiffIndex", "HTTPClient", "StacSearch", "CubeGrid", "GDALKit", "JSON", "CubeJobs",
        ]),
        .testTarget(name: "TiffIndexTests", dependencies: ["TiffIndex", "GDALKit"]),
        .testTarget(name: "CompositeTests", dependencies: ["CubeCore", "Composite"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "SensorsTests", dependencies: ["StacItems", "Sensors", "Composite", "JSON"]),
        .testTarget(name: "CubeRunTests", dependencies: ["CubeRun", "CubeJobs", "CubePlan", "CubeSpec"]),
        .testTarget(name: "CubeJobsTests", dependencies: ["CubeJobs", "CubeStore", "CubePlan", "CubeSpec"]),
        .testTarget(name: "ChunkWorkerTests", dependencies: [
            "CubeCore", "ChunkWorker", "CubeSpec", "CubeGrid", "CubePlan", "CubeSchema", "CubeJobs", "CubeStore", "GDALKit",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
