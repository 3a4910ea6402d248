import Composite
import Testing

@Suite struct ValueDomainTests {
    let dem = ValueDomain(sourceType: .float32, sourceNoData: -9999, conversion: .quantise, scaleFactor: 0.1,
                          addOffset: -1000, units: "m", quantity: "elevation", maskAsset: nil)
    var floatDEM: ValueDomain {
        var d = dem
        d.cubeType = .float32
        return d
    }

    @Test func quantisesToTheNearestStep() {
        #expect(dem.quantise(0) == 10000)           // (0 + 1000) / 0.1
        #expect(dem.quantise(123.44) == 11234)
        #expect(dem.quantise(123.46) == 11235)
        #expect(dem.quantise(-1000) == 1)           // would be 0 = no data: clamped to 1
        #expect(dem.quantise(-5000) == 1)
        #expect(dem.quantise(9_000) == 65535)       // above the range: clamped
    }

    @Test func noDataNaNAndInfinityAreZero() {
        #expect(dem.quantise(-9999) == 0)
        #expect(dem.quantise(.nan) == 0)
        #expect(dem.quantise(.infinity) == 0)
    }

    @Test func planeLoopEqualsTheScalarOneAndHonoursTheFilesNoData() {
        let xs: [Float] = [0, 123.44, .nan, -9999, 42, -1000, 7000]
        var out = [UInt16](repeating: 7, count: xs.count)
        xs.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dem.quantise(src, into: $0, noData: 42) } }
        // The file's nodata (42) replaces the domain's (-9999), which is then a low value (clamped to 1).
        #expect(out == [10000, 11234, 0, 1, 0, 1, 65535])
    }

    @Test func reflectanceDomainsPoolButOthersDoNot() {
        let s2 = ValueDomain.reflectance(source: .uint16, maskAsset: "scl")
        let ls = ValueDomain.reflectance(source: .uint16, maskAsset: "qa_pixel")
        #expect(s2.sameCubeValues(ls))
        #expect(!s2.sameCubeValues(dem))
        #expect(s2.scaleFactor == 0.0001 && s2.addOffset == 0 && s2.units == "1")
    }

    @Test func decodeIsOneFloat64MultiplyAddRoundedOnceAndNaNForNoData() {
        #expect(floatDEM.decode(0).isNaN)
        #expect(floatDEM.decode(10000) == 0)
        #expect(floatDEM.decode(11234) == Float(Double(11234) * 0.1 + -1000))
        #expect(floatDEM.decode(1) == Float(-999.9))
        let stored: [UInt16] = [0, 1, 10000, 11234, 65535, 0, 4321]
        var out = [Float](repeating: 7, count: stored.count)
        stored.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { floatDEM.decode(s, into: $0) } }
        for (v, o) in zip(stored, out) {
            if v == 0 { #expect(o.isNaN) } else { #expect(o.bitPattern == floatDEM.decode(v).bitPattern) }
        }
    }

    @Test func aFloat32CubeDeclaresItsBandStatisticsFloat32InItsUnits() throws {
        let recipe = try CompositeRecipe(statistics: ["median", "p90", "mean", "min", "max", "medoid"], bands: ["elevation"],
                                         domain: floatDEM)
        let byName = Dictionary(uniqueKeysWithValues: recipe.outputs.map { ($0.name, $0) })
        for name in ["elevation_median", "elevation_p90", "elevation_mean", "elevation_min", "elevation_max", "elevation_medoid"] {
            #expect(byName[name]?.type == .float32, "\(name)")
            #expect(byName[name]?.units == "m", "\(name)")
            #expect(byName[name]?.longName.contains("elevation") == true && byName[name]?.longName.contains("reflectance") == false)
        }
        #expect(byName["medoid_time"]?.type == .int32)
        #expect(recipe.decoded == recipe.outputs.map { $0.band != nil })
        // The same statistics of a uint16 domain (and of none) keep today's declarations.
        let stored = try CompositeRecipe(statistics: ["median", "medoid"], bands: ["elevation"], domain: dem)
        let plain = try CompositeRecipe(statistics: ["median", "medoid"], bands: ["elevation"])
        #expect(stored.outputs == plain.outputs && stored.decoded.allSatisfy { !$0 })
        #expect(stored.outputs.filter { $0.band != nil }.allSatisfy { $0.type == .uint16 })
    }

    @Test func aFloat32CubeRefusesTheGeomedian() {
        #expect(throws: StatisticError.needsReflectance("geomedian", "elevation")) {
            try CompositeRecipe(statistics: ["median", "geomedian"], bands: ["elevation"], domain: floatDEM)
        }
        #expect(throws: Never.self) {
            try CompositeRecipe(statistics: ["geomedian"], bands: ["red", "nir"], domain: .reflectance(source: .uint16, maskAsset: "scl"))
        }
    }

    @Test func theReducerDecodesEachPlaneAfterTheUInt16Statistics() throws {
        // 19 pixels (not a multiple of 8, split over threads), 3 observations, gaps.
        let pixels = 19
        let recipe = try CompositeRecipe(statistics: ["median", "min", "max", "medoid"], bands: ["elevation"], domain: floatDEM)
        let plain = try CompositeRecipe(statistics: ["median", "min", "max", "medoid"], bands: ["elevation"], domain: dem)
        func reduce(_ r: CompositeRecipe, threads: Int) throws -> CompositeArrays {
            let reducer = try CompositeReducer(pixelCount: pixels, bandCount: 1, maxObservations: 3, recipe: r)
            for o in 0..<3 {
                let values = (0..<pixels).map { p in UInt16(10000 + 37 * p + 500 * o) }
                let valid = (0..<pixels).map { p in UInt8((p + o) % 4 == 0 ? 0 : 1) }
                _ = try values.withUnsafeBufferPointer { v in
                    try valid.withUnsafeBufferPointer { try reducer.add(bands: [v], valid: $0, time: ObservationTime(day: Int32(o), rank: o)) }
                }
            }
            return reducer.finishArrays(threads: threads)
        }
        let stored = try reduce(plain, threads: 1)
        for threads in [1, 3] {
            let floats = try reduce(recipe, threads: threads)
            #expect(floats.values.isEmpty && floats.count == stored.count)
            #expect(floats.integers == stored.integers)
            for (name, plane) in stored.values {
                let got = try #require(floats.reals[name])
                #expect(got.map(\.bitPattern) == plane.map { floatDEM.decode($0).bitPattern }, "\(name)")
            }
        }
    }
}
