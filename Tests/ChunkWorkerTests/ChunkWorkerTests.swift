@testable import ChunkWorker
import CubeCore
import CubeJobs
import CubePlan
import CubeSchema
import CubeSpec
import CubeStore
import Foundation
import Testing

/// Initialises a cube over `world` in a fresh folder store and opens it for building.
private func makeCube(_ world: WorkerWorld, store: (LocalStore) -> any Store = { $0 },
                      start: String = "2024-03-01", end: String = "2024-03-31",
                      fuse: FusionRule = .firstData, edit: (String) -> String = { $0 }) throws -> (OpenCube, LocalStore) {
    let root = world.path("cube-\(UUID().uuidString).zarr")
    let spec = try CubeSpec.parse(yaml: edit(world.spec(store: root, start: start, end: end, fuse: fuse.rawValue)),
                                  baseDirectory: world.dir)
    let local = LocalStore(root: root)
    _ = try CubeSchema.initialize(spec: spec, plan: try Plan.make(spec), store: local)
    return (try OpenCube(store: store(local)), local)
}

/// The whole 64 x 64 grid of `array` for bin 0, assembled from its 2 x 2 chunks (0 where absent).
private func mosaic(_ cube: OpenCube, _ array: String) throws -> [UInt16] {
    let n = WorkerWorld.size
    var out = [UInt16](repeating: 0, count: n * n)
    for cy in 0..<2 { for cx in 0..<2 {
        guard let plane = try cube.writer.read(array: array, bin: 0, cy: cy, cx: cx) else { continue }
        for r in 0..<32 { for c in 0..<32 { out[(cy * 32 + r) * n + cx * 32 + c] = plane[r * 32 + c] } }
    } }
    return out
}

private func buildAll(_ cube: OpenCube, options: WorkerOptions = WorkerOptions()) throws -> [DoneRecord] {
    let worker = try ChunkWorker(cube: cube, options: options)
    return try JobID.all(in: cube.plan).map { try worker.run($0) }
}

@Test(arguments: FusionRule.allCases) func workerMatchesNaiveTruth(fuse: FusionRule) throws {
    let world = try WorkerWorld()
    let (cube, _) = try makeCube(world, fuse: fuse)
    let records = try buildAll(cube)
    let truth = world.truth(fuse: fuse)
    #expect(truth.count.max()! >= 3)
    #expect(try mosaic(cube, "count") == truth.count)
    for (b, band) in WorkerWorld.bands.enumerated() {
        #expect(try mosaic(cube, band) == truth.medians[b], "band \(band)")
    }
    for record in records {
        // Five March scenes, four solar days; February is outside the bin and not "found".
        #expect(record.scenes_found == 5)
        #expect(record.observations == 4)
        #expect(record.wrote_chunks)
        #expect(Set(record.seconds.keys) == ["search", "read", "reduce", "write"])
        #expect(!record.scenes_skipped.contains { $0.id.contains("20240227") })
    }
    // Chunk (0, 1) lies right of column 40: the first tile of the fused day misses it.
    let right = records.first { $0.job.hasSuffix("/0/1") }!
    #expect(right.scenes_used == 5 || right.scenes_skipped.contains { $0.id == "S2A_T33_20240312_0" })
}

@Test func stripsGiveTheSameChunksAsOneWindow() throws {
    let world = try WorkerWorld(seed: 5)
    let (whole, _) = try makeCube(world)
    let (strips, _) = try makeCube(world)
    let (lanes, _) = try makeCube(world)
    let wholeRecords = try buildAll(whole)
    // 16 KiB holds a few rows of 4 observations x 2 bands: many strips per chunk; and observations
    // read by parallel lanes.
    _ = try buildAll(strips, options: WorkerOptions(memoryBudgetBytes: 16 << 10, reduceThreads: 2, readThreads: 2))
    let laneRecords = try buildAll(lanes, options: WorkerOptions(reduceThreads: 2, readThreads: 3))
    for array in WorkerWorld.bands + ["count"] {
        #expect(try mosaic(whole, array) == mosaic(strips, array), "\(array)")
        #expect(try mosaic(whole, array) == mosaic(lanes, array), "\(array)")
    }
    // The job log does not depend on thread timing either.
    #expect(wholeRecords.map(\.scenes_skipped) == laneRecords.map(\.scenes_skipped))
    #expect(wholeRecords.map(\.scenes_used) == laneRecords.map(\.scenes_used))
    #expect(try mosaic(whole, "count") == world.truth().count)
}

/// Mask filters: 2 x 2 chunks built whole, in row strips and by one read lane equal a
/// one-chunk build of the grid (each observation is read over its window grown by the halo),
/// and the filters drop pixels (never add any).
@Test(arguments: FusionRule.allCases) func maskFiltersDoNotDependOnChunksStripsOrLanes(fuse: FusionRule) throws {
    let world = try WorkerWorld(seed: 5)
    let filters: (String) -> String = { $0 + "\nmask: {filters: [[closing, 1], [opening, 1], [dilation, 3]]}\n" }
    let (whole, _) = try makeCube(world, fuse: fuse, edit: filters)
    let (strips, _) = try makeCube(world, fuse: fuse, edit: filters)
    let (single, _) = try makeCube(world, fuse: fuse, edit: filters)
    let (one, _) = try makeCube(world, fuse: fuse, edit: { filters($0).replacingOccurrences(of: "chunk: 32", with: "chunk: 64") })
    let (plain, _) = try makeCube(world, fuse: fuse)
    _ = try buildAll(whole)
    _ = try buildAll(strips, options: WorkerOptions(memoryBudgetBytes: 16 << 10, reduceThreads: 2, readThreads: 2))
    _ = try buildAll(single, options: WorkerOptions(readLanes: 1))
    _ = try buildAll(one)
    _ = try buildAll(plain)
    for array in WorkerWorld.bands + ["count"] {
        let reference = try #require(try one.writer.read(array: array, bin: 0, cy: 0, cx: 0))
        #expect(try mosaic(whole, array) == reference, "\(array)")
        #expect(try mosaic(strips, array) == reference, "\(array) in strips")
        #expect(try mosaic(single, array) == reference, "\(array) by one lane")
    }
    let filtered = try mosaic(whole, "count"), unfiltered = try mosaic(plain, "count")
    #expect(zip(filtered, unfiltered).allSatisfy { $0 <= $1 })
    #expect(zip(filtered, unfiltered).contains { $0 < $1 })
}

@Test func doneIsRecordedOnlyAfterEveryChunkIsWritten() throws {
    let world = try WorkerWorld(seed: 9)
    var failing: FailingStore!
    let (cube, local) = try makeCube(world, store: { local in
        failing = FailingStore(local, failingPrefix: "count/")
        return failing
    })
    let job = JobID(bin: 0, cy: 1, cx: 0)
    let worker = try ChunkWorker(cube: cube)
    #expect(throws: StoreError.self) { try worker.run(job) }
    // The band chunk went in, the count chunk failed: the job is not done.
    #expect(try local.exists("red/c/0/1/0"))
    #expect(try !local.exists("count/c/0/1/0"))
    #expect(try !cube.ledger.isDone(job))
    #expect(try cube.ledger.pendingJobs().contains(job))

    // Space is back: the same job completes and only then is marked done.
    failing.failingPrefix = nil
    let record = try worker.run(job)
    #expect(try cube.ledger.record(job) == record)
    #expect(try local.exists("count/c/0/1/0"))
    // No temporary or partial object is left in the store.
    let leftovers = try FileManager.default.subpathsOfDirectory(atPath: local.root)
        .filter { ($0 as NSString).lastPathComponent.hasPrefix(".") || $0.hasSuffix(".tmp") }
    #expect(leftovers.isEmpty)
}

@Test func jobWithoutScenesWritesOnlyItsDoneRecord() throws {
    let world = try WorkerWorld(seed: 2)
    let (cube, local) = try makeCube(world, start: "2024-05-01", end: "2024-05-31")
    let records = try buildAll(cube)
    #expect(records.count == 4)
    #expect(records.allSatisfy { !$0.wrote_chunks && $0.scenes_found == 0 && $0.valid_pixels == 0 })
    let keys = try local.list(prefix: "")
    #expect(!keys.contains { $0.hasPrefix("red/c/") || $0.hasPrefix("nir/c/") || $0.hasPrefix("count/c/") })
    #expect(keys.filter { $0.hasPrefix("_cube/done/") }.count == 4)
}

@Test func unreadableSceneIsSkippedWithItsReason() throws {
    let world = try WorkerWorld(seed: 3)
    let broken = "S2B_T33_20240307_0"
    let red = world.path("\(broken)/red.tif")
    let bytes = try Data(contentsOf: URL(fileURLWithPath: red))
    // Cut inside the header or the first tile: no chunk can read this band.
    try bytes.prefix(min(400, bytes.count / 8)).write(to: URL(fileURLWithPath: red))
    let (cube, _) = try makeCube(world)
    let records = try buildAll(cube)
    let reasons = records.flatMap(\.scenes_skipped).filter { $0.id == broken }.map(\.reason)
    #expect(!reasons.isEmpty && reasons.allSatisfy { $0.hasPrefix("unreadable") }, "\(reasons)")
    let truth = world.truth(excluding: [broken])
    #expect(try mosaic(cube, "count") == truth.count)
    #expect(try mosaic(cube, "red") == truth.medians[0])
}

