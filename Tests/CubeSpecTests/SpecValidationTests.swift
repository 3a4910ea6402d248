import CubeSpec
import Foundation
import Testing

let validSpec = """
name: t
stac:
  api: http://127.0.0.1:9/
  collection: sentinel-2-l2a
grid:
  crs: EPSG:4326
  resolution: 1/3600
  bbox: [12.0, 45.0, 12.5, 45.5]
  chunk: 600
time:
  start: 2024-01-01
  end: 2024-03-31
bands: [red, green, {asset: nir, name: nir08}]
"""

/// The valid spec with one line replaced (or removed when `with` is nil).
func mutated(_ line: String, with replacement: String?) -> String {
    precondition(validSpec.contains(line), "test bug: \(line) not in the spec")
    return validSpec.replacingOccurrences(of: line, with: replacement ?? "")
}

func specError(_ yaml: String) -> SpecError? {
    do {
        _ = try CubeSpec.parse(yaml: yaml)
        return nil
    } catch let e as SpecError {
        return e
    } catch {
        Issue.record("not a SpecError: \(error)")
        return nil
    }
}

@Test func validSpecParsesWithDefaults() throws {
    let spec = try CubeSpec.parse(yaml: validSpec)
    #expect(spec.name == "t")
    #expect(spec.stac == .api(url: "http://127.0.0.1:9/", collections: ["sentinel-2-l2a"], maxCloudCover: nil))
    #expect(spec.grid.crs == "EPSG:4326")
    #expect(abs(spec.grid.resolutionX - 1.0 / 3600) < 1e-18)
    #expect(spec.grid.bbox == [12.0, 45.0, 12.5, 45.5])
    #expect(spec.time.step == .months(1))
    #expect(spec.bands.map(\.name) == ["red", "green", "nir08"])
    #expect(spec.bands[2].asset == "nir")
    #expect(spec.mask == MaskSpec(asset: "scl", invalid: [0, 1, 3, 8, 9, 10]))
    #expect(spec.composite == ["median"])
    #expect(spec.resampling == .nearest)
    #expect(spec.fuse == .firstData)
    #expect(spec.landMask == .embedded)
    // Relative stores resolve against the spec's folder (the current directory here).
    #expect(spec.store == URL(fileURLWithPath: ".").appendingPathComponent("t.zarr").standardized.path)
    #expect(spec.zarrFormat == 3)
    #expect(spec.compression == CompressionSpec(codec: .bloscZstd, level: 5))
}

@Test func optionalFieldsParse() throws {
    let yaml = validSpec + """

    mask: {asset: scl, invalid: [9, 8, 8]}
    resampling: bilinear
    fuse: first-valid
    land_mask: none
    store: out/cube.zarr
    zarr_format: 2
    compression: {codec: zstd, level: 7}
    """
    let spec = try CubeSpec.parse(yaml: yaml, baseDirectory: URL(fileURLWithPath: "/data/specs"))
    #expect(spec.mask.invalid == [8, 9])
    #expect(spec.resampling == .bilinear)
    #expect(spec.fuse == .firstValid)
    #expect(spec.landMask == LandMaskSource.none)
    #expect(spec.store == "/data/specs/out/cube.zarr")
    #expect(spec.zarrFormat == 2)
    #expect(spec.compression == CompressionSpec(codec: .zstd, level: 7))
}

@Test(arguments: [
    ("icechunk:out/cube.icechunk", "icechunk:/data/specs/out/cube.icechunk"),
    ("icechunk:/abs/cube.icechunk", "icechunk:/abs/cube.icechunk"),
    ("icechunk:s3://bucket/cube", "icechunk:s3://bucket/cube"),
    ("s3://bucket/cube.zarr", "s3://bucket/cube.zarr"),
])
func storeLocationsResolveAgainstTheSpecFolder(_ given: String, _ expected: String) throws {
    let spec = try CubeSpec.parse(yaml: validSpec + "\nstore: \(given)\n", baseDirectory: URL(fileURLWithPath: "/data/specs"))
    #expect(spec.store == expected)
}

@Test(arguments: [
    ("1 month", TimeStep.months(1)), ("3 months", .months(3)), ("P1M", .months(1)), ("10D", .days(10)),
    ("10 days", .days(10)), ("monthly", .months(1)), ("2", .months(2)),
])
func timeSteps(text: String, step: TimeStep) throws {
    let spec = try CubeSpec.parse(yaml: mutated("  end: 2024-03-31", with: "  end: 2024-03-31\n  step: \(text)"))
    #expect(spec.time.step == step)
}

/// Each wrong spec gives one error naming the field.
@Test(arguments: [
    (mutated("name: t", with: "name: t\nbogus: 1"), "bogus", "unknown key"),
    (mutated("  chunk: 600", with: "  chunk: 600\n  chunks: 3"), "grid.chunks", "did you mean 'chunk'"),
    (mutated("  chunk: 600", with: "  chunk: big"), "grid.chunk", "whole number"),
    (mutated("  chunk: 600", with: "  chunk: 6.5"), "grid.chunk", "whole number"),
    (mutated("  chunk: 600", with: "  chunk: 100000"), "grid.chunk", "too large"),
    (mutated("  chunk: 600", with: "  chunk: 0"), "grid.chunk", "at least"),
    (mutated("  chunk: 600", with: "  chunk: -5"), "grid.chunk", "at least"),
    (mutated("  chunk: 600", with: nil), "grid.chunk", "required"),
    (mutated("  bbox: [12.0, 45.0, 12.5, 45.5]", with: "  bbox: [12.5, 45.0, 12.0, 45.5]"), "grid.bbox", "antimeridian"),
    (mutated("  bbox: [12.0, 45.0, 12.5, 45.5]", with: "  bbox: [12.0, 45.5, 12.5, 45.0]"), "grid.bbox", "min y"),
    (mutated("  bbox: [12.0, 45.0, 12.5, 45.5]", with: "  bbox: [12.0, 45.0, 12.5]"), "grid.bbox", "got 3 values"),
    (mutated("  bbox: [12.0, 45.0, 12.5, 45.5]", with: "  bbox: [12.0, 45.0, 12.5, 95]"), "grid.bbox", "outside"),
    (mutated("  bbox: [12.0, 45.0, 12.5, 45.5]", with: "  bbox: [a, 45.0, 12.5, 45.5]"), "grid.bbox[0]", "number"),
    (mutated("  bbox: [12.0, 45.0, 12.5, 45.5]", with: "  bbox: 12"), "grid.bbox", "list"),
    (mutated("  resolution: 1/3600", with: "  resolution: 0"), "grid.resolution", "positive"),
    (mutated("  resolution: 1/3600", with: "  resolution: -10"), "grid.resolution", "positive"),
    (mutated("  resolution: 1/3600", with: "  resolution: [10, 20, 30]"), "grid.resolution", "[x, y]"),
    (mutated("  resolution: 1/3600", with: "  resolution: .nan"), "grid.resolution", "number"),
    (mutated("  start: 2024-01-01", with: "  start: 2024-13-01"), "time.start", "valid date"),
    (mutated("  end: 2024-03-31", with: "  end: 2023-03-31"), "time.end", "before"),
    (mutated("  end: 2024-03-31", with: "  end: 2024-03-31\n  step: 0 days"), "time.step", "positive"),
    (mutated("  end: 2024-03-31", with: "  end: 2024-03-31\n  step: fortnightly"), "time.step", "not a step"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: []"), "bands", "at least one"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [red, red]"), "bands[1]", "twice"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [count]"), "bands[0]", "reserved"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [\"../x\"]"), "bands[0].asset", "letters"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: red"), "bands", "list"),
    (mutated("  api: http://127.0.0.1:9/", with: "  api: ftp://x"), "stac.api", "http"),
    (mutated("  collection: sentinel-2-l2a", with: nil), "stac.collection", "required"),
    (validSpec + "\nzarr_format: 4", "zarr_format", "2 or 3"),
    (mutated("  collection: sentinel-2-l2a", with: "  collection: sentinel-1-grd"), "stac.collection", "no sensor profile reads collection 'sentinel-1-grd'"),
    (mutated("  collection: sentinel-2-l2a", with: "  collection: x\n  profile: modis"), "stac.profile", "unknown sensor profile 'modis'"),
    (mutated("  collection: sentinel-2-l2a", with: "  collection: sentinel-2-l2a\n  collections: [landsat-c2-l2]"), "stac", "not both"),
    (mutated("  collection: sentinel-2-l2a", with: "  collections: []"), "stac.collections", "at least one"),
    (mutated("  collection: sentinel-2-l2a", with: "  collections: [landsat-c2-l2, landsat-c2-l2]"), "stac.collections[1]", "listed twice"),
    (mutated("  collection: sentinel-2-l2a", with: "  collection: landsat-c2-l2")
        .replacingOccurrences(of: "bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [red, rededge1]"),
     "bands[1]", "landsat-c2-l2 has no band 'rededge1'"),
    (mutated("  collection: sentinel-2-l2a", with: "  collection: landsat-c2-l2") + "\nmask: {invalid: [fill, 16]}",
     "mask.invalid[1]", "'16' is outside the landsat-c2-l2 mask's QA bits 0-15"),
    (mutated("  collection: sentinel-2-l2a", with: "  collection: landsat-c2-l2") + "\nmask: {invalid: [cloudy]}",
     "mask.invalid[0]", "'cloudy' is not one of the landsat-c2-l2 mask's QA bits"),
    (mutated("  collection: sentinel-2-l2a", with: "  collections: [sentinel-2-l2a, landsat-c2-l2]") + "\nmask: {invalid: [3]}",
     "mask", "one entry per collection"),
    (mutated("  collection: sentinel-2-l2a", with: "  collections: [sentinel-2-l2a, landsat-c2-l2]")
        + "\nmask: {sentinel-2-l2a: {invalid: [3]}, landsat-c2-l2: {invalid: [3, 300]}}",
     "mask.landsat-c2-l2.invalid[1]", "outside"),
    (mutated("  collection: sentinel-2-l2a", with: "  collections: [sentinel-2-l2a, sentinel-2-c1-l2a]"),
     "stac.collections", "two collections of one sensor"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [red, count_landsat]"), "bands[1]", "reserved"),
    (validSpec + "\ncomposite: mode", "composite", "unknown statistic 'mode'; expected median, mean"),
    (validSpec + "\ncomposite: p101", "composite", "unknown statistic"),
    (validSpec + "\ncomposite: p-5", "composite", "unknown statistic"),
    (validSpec + "\ncomposite: [median, p10, P10]", "composite[2]", "'p10' is listed twice"),
    (validSpec + "\ncomposite: [median, p010, p10]", "composite[2]", "listed twice"),
    (validSpec + "\ncomposite: []", "composite", "at least one"),
    (validSpec + "\ncomposite: [median, [p10]]", "composite[1]", "expected a string"),
    (mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [red, smad]") + "\ncomposite: geomedian",
     "composite", "'smad' is written twice"),
    (validSpec + "\nindices: {ndvi: \"(nri - red) / (nir08 + red)\"}", "indices.ndvi", "unknown band 'nri' (bands: red, green, nir08) at position 2"),
    (validSpec + "\nindices: {x: \"(nir08 - red) / (nir08 + \"}", "indices.x", "'(' at the end at position 26"),
    (validSpec + "\nindices: {x: \"nir08 ** 2\"}", "indices.x", "powers) is not supported at position 7"),
    (validSpec + "\nindices: {x: \"(red + green\"}", "indices.x", "expected ')' at position 13"),
    (validSpec + "\nindices: {x: \"red $ green\"}", "indices.x", "unexpected '$' at position 5"),
    (validSpec + "\nindices: [ndvi]", "indices.ndvi", "unknown band 'nir'"),
    (validSpec + "\nindices: [ndxi]", "indices.ndxi", "not in the built-in catalogue"),
    (validSpec + "\nindices: [Ndvi]", "indices.Ndvi", "lower-case"),
    (validSpec + "\nindices: {red: \"green / red\"}", "composite", "'red' is written twice"),
    (validSpec + "\nindices: {count: \"green / red\"}", "composite", "reserves"),
    (validSpec + "\ncomposite: geomedian\nindices: {gr: \"green / red\"}", "indices.gr", "per-observation statistic"),
    (validSpec + "\nresampling: cubic", "resampling", "nearest"),
    (validSpec + "\noverviews: coarse", "overviews", "auto, none or a level number"),
    (validSpec + "\noverviews: -1", "overviews", "auto, none or a level number"),
    (validSpec + "\noverviews: [1]", "overviews", "auto, none or a level number"),
    (validSpec + "\nfuse: last", "fuse", "first-data, first-valid"),
    (validSpec + "\ncompression: lz4", "compression", "unknown codec"),
    (validSpec + "\ncompression: {codec: blosc, level: 12}", "compression.level", "1...9"),
    (validSpec + "\nmask: {invalid: [300]}", "mask.invalid[0]", "SCL classes 0-255"),
    (validSpec + "\nmask: {asset: red}", "mask.asset", "also listed"),
    (validSpec + "\nmask: {filters: [[openning, 2]]}", "mask.filters[0][0]", "unknown operation 'openning'; expected one of erosion, dilation, opening, closing"),
    (validSpec + "\nmask: {filters: [[opening, -1]]}", "mask.filters[0][1]", "radius -1 is outside 0...64"),
    (validSpec + "\nmask: {filters: [[dilation, 3], [opening, 65]]}", "mask.filters[1][1]", "radius 65 is outside 0...64"),
    (validSpec + "\nmask: {filters: [[opening, 2.5]]}", "mask.filters[0][1]", "whole number"),
    (validSpec + "\nmask: {filters: [opening, 2]}", "mask.filters[0]", "expected [operation, radius]"),
    (validSpec + "\nmask: {filters: [[opening]]}", "mask.filters[0]", "expected [operation, radius]"),
    (validSpec + "\nmask: {filters: opening}", "mask.filters", "expected a list"),
    (validSpec + "\nmask: {filters: [[closing, 64], [opening, 64], [dilation, 1]]}", "mask.filters", "reach 257 pixels"),
    (mutated("  collection: sentinel-2-l2a", with: "  collections: [sentinel-2-l2a, landsat-c2-l2]")
        + "\nmask: {sentinel-2-l2a: {filters: [[opening, 2]]}, landsat-c2-l2: {filters: [[erode, 1]]}}",
     "mask.landsat-c2-l2.filters[0][0]", "unknown operation 'erode'"),
    ("name: [", "spec", "invalid YAML"),
    ("", "spec", "empty"),
    ("- a\n- b", "spec", "mapping"),
    ("name: t\nname: u", "name", "twice"),
    ("\u{01}\u{02}binary", "spec", "control characters"),
])
func badSpecsNameTheirField(yaml: String, field: String, fragment: String) {
    guard let error = specError(yaml) else {
        Issue.record("expected an error on \(field)")
        return
    }
    #expect(error.field == field, "\(error)")
    #expect(error.description.contains(fragment), "\(error)")
    #expect(!error.description.contains("\n"), "one line: \(error)")
}

@Test func sensorsFollowTheirCollections() throws {
    // Today's Sentinel-2 spec: one sensor, the default mask, the fingerprint of old.
    let s2 = try CubeSpec.parse(yaml: validSpec)
    #expect(s2.sensors == [SensorSpec(collection: "sentinel-2-l2a", profileID: "sentinel-2-l2a",
                                      mask: MaskSpec(asset: "scl", invalid: [0, 1, 3, 8, 9, 10]))])
    #expect(s2.fingerprint.contains("\nmask=scl:0,1,3,8,9,10\n"))
    #expect(s2.sensorCountNames.isEmpty)

    let landsat = try CubeSpec.parse(yaml: mutated("  collection: sentinel-2-l2a", with: "  collection: landsat-c2-l2")
        + "\nmask: {invalid: [fill, cloud, 4, snow]}")
    #expect(landsat.sensors[0].profileID == "landsat-c2-l2")
    #expect(landsat.mask == MaskSpec(asset: "qa_pixel", invalid: [0, 3, 4, 5]))
    #expect(landsat.bandAssets(landsat.sensors[0]) == ["red", "green", "nir08"])
    #expect(landsat.fingerprint.contains("mask[landsat-c2-l2:landsat-c2-l2]=qa_pixel:0,3,4,5"))

    let mixed = try CubeSpec.parse(yaml: mutated("  collection: sentinel-2-l2a",
                                                 with: "  collections: [sentinel-2-l2a, landsat-c2-l2]")
        + "\nmask: {landsat-c2-l2: {invalid: [fill, cloud]}}")
    #expect(mixed.stac.collections == ["sentinel-2-l2a", "landsat-c2-l2"])
    #expect(mixed.sensors.map(\.mask) == [MaskSpec(asset: "scl", invalid: [0, 1, 3, 8, 9, 10]),
                                          MaskSpec(asset: "qa_pixel", invalid: [0, 3])])
    #expect(mixed.sensorCountNames == ["count_sentinel2", "count_landsat"])
    #expect(mixed.assetKeys == ["scl", "red", "green", "nir", "qa_pixel", "nir08"])
    #expect(mixed.sensor(for: "landsat-c2-l2")?.profileID == "landsat-c2-l2")
    #expect(mixed.sensor(for: "sentinel-1-grd") == nil)

    let custom = try CubeSpec.parse(yaml: mutated("  collection: sentinel-2-l2a", with: "  collection: my-s2\n  profile: sentinel-2-l2a"))
    #expect(custom.sensors[0].profileID == "sentinel-2-l2a" && custom.sensors[0].collection == "my-s2")
}

@Test func overviewsParse() throws {
    #expect(try CubeSpec.parse(yaml: validSpec).overviews == .none)
    #expect(try CubeSpec.parse(yaml: validSpec + "\noverviews: auto").overviews == .auto)
    #expect(try CubeSpec.parse(yaml: validSpec + "\noverviews: none").overviews == .none)
    #expect(try CubeSpec.parse(yaml: validSpec + "\noverviews: 2").overviews == .level(2))
    #expect(try CubeSpec.parse(yaml: validSpec + "\noverviews: 0").overviews == .none)
    // `none` keeps the fingerprint specs always had; a level is part of it.
    #expect(try CubeSpec.parse(yaml: validSpec + "\noverviews: none").fingerprint == CubeSpec.parse(yaml: validSpec).fingerprint)
    #expect(try CubeSpec.parse(yaml: validSpec + "\noverviews: auto").fingerprint.contains("overviews=auto"))
}

@Test func compositeTakesOneStatisticOrAList() throws {
    #expect(try CubeSpec.parse(yaml: validSpec + "\ncomposite: P25").composite == ["p25"])
    let spec = try CubeSpec.parse(yaml: validSpec + "\ncomposite: [median, p010, p90, mean, min, max, geomedian]")
    #expect(spec.composite == ["median", "p10", "p90", "mean", "min", "max", "geomedian"])
    let names = spec.recipe.outputs.map(\.name)
    #expect(names.prefix(3) == ["red_median", "green_median", "nir08_median"])
    #expect(names.contains("nir08_p10") && names.contains("red_geomedian") && names.contains("green_max"))
    #expect(names.suffix(3) == ["smad", "emad", "bcmad"])
    #expect(spec.fingerprint.contains("composite=median,p10,p90,mean,min,max,geomedian"))
    // One statistic keeps the band names; the geomedian adds its deviations.
    let single = try CubeSpec.parse(yaml: validSpec + "\ncomposite: geomedian").recipe.outputs
    #expect(single.map(\.name) == ["red", "green", "nir08", "smad", "emad", "bcmad"])
    #expect(single.map(\.type.rawValue) == ["uint16", "uint16", "uint16", "float32", "float32", "float32"])
    // Today's cubes keep their fingerprint.
    #expect(try CubeSpec.parse(yaml: validSpec).fingerprint.contains("composite=median resampling"))
}

@Test func specFilesInTheRepoAreValid() throws {
    let cubes = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../cubes").standardized
    let files = try FileManager.default.contentsOfDirectory(atPath: cubes.path).filter { $0.hasSuffix(".yaml") }
    #expect(files.count >= 2)
    for f in files {
        let spec = try CubeSpec.load(path: cubes.appendingPathComponent(f).path)
        #expect(!spec.bands.isEmpty, "\(f)")
    }
}


@Test func indicesFromTheCatalogueAndExpressions() throws {
    let yaml = mutated("bands: [red, green, {asset: nir, name: nir08}]", with: "bands: [red, green, blue, nir, swir16]")
    let spec = try CubeSpec.parse(yaml: yaml + "\ncomposite: [median, p90]\nindices: [ndvi, {gr: \"green / red\"}, ndmi]")
    #expect(spec.indices.map(\.name) == ["ndvi", "gr", "ndmi"])
    #expect(spec.indices[0].expression == "(nir - red) / (nir + red)")
    let names = spec.recipe.outputs.map(\.name)
    #expect(names.suffix(6) == ["ndvi_median", "ndvi_p90", "gr_median", "gr_p90", "ndmi_median", "ndmi_p90"])
    #expect(spec.recipe.outputs.suffix(6).allSatisfy { $0.type == .float32 })
    let one = try CubeSpec.parse(yaml: yaml + "\nindices: {ndvi: , evi: }")
    #expect(one.recipe.outputs.map(\.name) == ["red", "green", "blue", "nir", "swir16", "ndvi", "evi"])
    #expect(one.indices[1].expression.hasPrefix("2.5 * (nir - red)"))
}

@Test func maskFiltersParseInOrderPerCollection() throws {
    let spec = try CubeSpec.parse(yaml: validSpec + "\nmask: {invalid: [3, 8, 9], filters: [[opening, 2], [Dilation, 3]]}")
    #expect(spec.mask.invalid == [3, 8, 9])
    #expect(spec.mask.filters.description == "[[opening, 2], [dilation, 3]]")
    #expect(spec.mask.filters.halo == 7)
    #expect(spec.fingerprint.contains("\nmask=scl:3,8,9 filters=opening:2,dilation:3\n"))
    // Without filters the fingerprint is the one cubes have always had.
    #expect(try CubeSpec.parse(yaml: validSpec).mask.filters.steps.isEmpty)

    let mixed = try CubeSpec.parse(yaml: mutated("  collection: sentinel-2-l2a",
                                                 with: "  collections: [sentinel-2-l2a, landsat-c2-l2]")
        + "\nmask: {sentinel-2-l2a: {filters: [[closing, 1], [erosion, 0]]}, landsat-c2-l2: {invalid: [fill, cloud]}}")
    #expect(mixed.sensors[0].mask.filters.description == "[[closing, 1], [erosion, 0]]")
    #expect(mixed.sensors[1].mask.filters.steps.isEmpty)
    #expect(mixed.sensors[1].mask.invalid == [0, 3])
}
