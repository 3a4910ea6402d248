#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Testing
@testable import Composite

/// Timing of the reduce stage on a realistic window. Off by default (it allocates ~220 MB);
/// run with `COMPOSITE_BENCH=1 swift test -c release --filter CompositeBenchmark`.
@Suite(.enabled(if: Environment.flag("COMPOSITE_BENCH")))
struct CompositeBenchmark {
    @Test(arguments: [(25, 1), (25, 2), (100, 1)])
    func medianOfAChunk(observations n: Int, threads: Int) throws {
        let pixels = 1200 * 1200, bands = 3
        let reducer = try CompositeReducer(pixelCount: pixels, bandCount: bands, maxObservations: n)
        var rng = SplitMix64(seed: 1)
        var plane = [UInt16](repeating: 0, count: pixels)
        var mask = [UInt8](repeating: 0, count: pixels)
        // What the count must be: the observations whose pixel was clear (and had data).
        var clear = [UInt16](repeating: 0, count: pixels)
        let start = DispatchTime.now().uptimeNanoseconds
        var fuseNanos: UInt64 = 0
        for _ in 0..<n {
            // One scene per observation: ~70 % clear (class 4), the rest cloud (9).
            for p in 0..<pixels {
                let r = rng.next()
                plane[p] = UInt16(truncatingIfNeeded: r >> 16) | 1
                mask[p] = (r & 0xFF) < 180 ? 4 : 9
                if mask[p] == 4 { clear[p] += 1 }
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let builder = try reducer.beginObservation()
            _ = try plane.withUnsafeBufferPointer { v in
                try mask.withUnsafeBufferPointer { m in
                    try builder.addScene(bands: [v, v, v], mask: m, shifts: [-1000, -1000, -1000])
                }
            }
            try reducer.commitObservation()
            fuseNanos += DispatchTime.now().uptimeNanoseconds - t0
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let result = reducer.finish(threads: threads)
        let t2 = DispatchTime.now().uptimeNanoseconds
        #expect(result.count.elementsEqual(clear), "the count is the clear observations of each pixel")
        print("""
            composite bench: \(pixels) px × \(n) obs × \(bands) bands, threads \(threads): \
            fuse+commit \(fuseNanos / 1_000_000) ms total (\(fuseNanos / UInt64(n) / 1_000) µs/obs), \
            median+count \((t2 - t1) / 1_000_000) ms (setup \((t1 - start - fuseNanos) / 1_000_000) ms)
            """)
    }
}

enum Environment {
    static func flag(_ name: String) -> Bool {
        guard let value = getenv(name) else { return false }
        return String(cString: value) == "1"
    }
}
