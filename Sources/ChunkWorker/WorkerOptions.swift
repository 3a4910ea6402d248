import Foundation

/// Knobs of a worker; the defaults suit one worker process per core.
public struct WorkerOptions: Sendable {
    /// Memory for the observation store of one job; a chunk that needs more is reduced in row
    /// strips (each strip re-reads only its own source rows).
    public var memoryBudgetBytes: Int
    /// Threads for the median of one job (1 when many worker processes share the cores).
    public var reduceThreads: Int
    /// Threads reading and fusing observations of one job in parallel, each with its own
    /// scene reader (1 when many worker processes share the cores).
    public var readThreads: Int

    /// Tile requests in flight at once (COG range requests of the mask and band waves).
    public var connections: Int
    /// Read lanes: observations read at once, by default two per thread. More lanes than
    /// threads hide round trips to a far server (a lane waiting for its band wave leaves the core
    /// to another): at 100 ms, 4 lanes on 2 threads took a 1200² chunk from 4.9 s to 3.8 s
    /// (2.9 s at 0 ms, unchanged); each lane costs one observation's planes of memory (about
    /// 60 MiB there).
    public var readLanes: Int
    /// Request the band tiles of each observation's first scene with the mask wave (speculative:
    /// a tile is fetched even when its mask later shows every pixel under it cloudy), so a job
    /// far from its data waits for one wave instead of a chain of them. Off with
    /// `CUBE_BAND_WAVE=lanes` (A/B benchmarks): each scene's bands are requested when its lane
    /// has decoded its mask.
    public var bandWaveAtStart: Bool

    public init(memoryBudgetBytes: Int = 512 << 20, reduceThreads: Int = 1, readThreads: Int = 1,
                connections: Int = 32, readLanes: Int? = nil,
                bandWaveAtStart: Bool = ProcessInfo.processInfo.environment["CUBE_BAND_WAVE"] != "lanes") {
        self.memoryBudgetBytes = memoryBudgetBytes
        self.reduceThreads = max(1, reduceThreads)
        self.readThreads = max(1, readThreads)
        self.connections = max(1, connections)
        self.readLanes = max(1, readLanes ?? 2 * self.readThreads)
        self.bandWaveAtStart = bandWaveAtStart
    }
}
