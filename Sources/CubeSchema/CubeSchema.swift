import Composite
import CubeGrid
import CubePlan
import CubeSpec
import CubeStore
import Foundation
import GDALKit
import JSON
import Zarr

/// What `cube init` did.
public enum InitOutcome: Equatable, Sendable {
    /// A new cube schema was written.
    case created
    /// The store already holds this exact cube: nothing was written.
    case unchanged
    /// `--force` replaced a different cube's schema; this many chunk objects and done records were removed.
    case replaced(removedObjects: Int)
    /// The spec differs only by a later `time.end`: the cube grew from `from` to `to` time bins
    /// (the new ones are built outside the published shape and published when complete).
    case extended(from: Int, to: Int)
}

public struct SchemaError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Writes the whole schema of a cube (arrays, coordinates, CRS, attributes, plan; no data
/// chunks) and reads it back for workers.
public enum CubeSchema {
    public static let toolVersion = "0.1.0"

    /// A short digest of a spec's fingerprint (FNV-1a, 64 bits, hex): names the spec in commit
    /// metadata, so two versions built from different specs are told apart at a glance.
    public static func specDigest(_ spec: CubeSpec) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in spec.fingerprint.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 16)
    }

    /// Build record kept at `_cube/build.json`.
    public struct BuildRecord: Codable, Equatable, Sendable {
        public var fingerprint: String
        public var base_directory: String
        public var created: String
        public var tool_version: String
    }

    public static func initialize(spec: CubeSpec, plan: Plan, store: any Store, force: Bool = false,
                                  now: Date = Date()) throws -> InitOutcome {
        var removed: Int?
        if let existing = try store.get(CubeLayout.buildKey) {
            let record = try JSONDecoder().decode(BuildRecord.self, from: existing)
            if record.fingerprint == spec.fingerprint {
                return .unchanged
            }
            let changed = changedFields(old: record.fingerprint, new: spec.fingerprint)
            if !force && !changed.isEmpty && changed.allSatisfy({ $0 == "time.end" }) {
                return try extend(store: store, to: spec, record: record, now: now)
            }
            guard force else {
                let only = changed.contains(where: { $0.hasPrefix("time") }) ? "; only a later time.end can be appended to a cube" : ""
                throw SchemaError("\(store) already holds a different cube (changed: \(changed.joined(separator: ", "))\(only)); use --force to replace it, or another store")
            }
            removed = try removeCube(store)
        } else if try !store.list(prefix: "").isEmpty {
            guard force else {
                throw SchemaError("\(store) is not empty and is not a cube store; refusing to write into it (use --force to write anyway)")
            }
        }
        let layout = CubeLayout(spec: spec, plan: plan)
        let created = ISO8601DateFormatter().string(from: now)
        try writeSchema(spec: spec, layout: layout, store: store, created: created)
        try StacDescription.write(spec: spec, layout: layout, store: store, published: plan.bins.count)
        try Publication(bins: plan.bins.count, complete: Array(repeating: false, count: plan.bins.count)).write(store)
        // The build record goes last: a store with one is fully initialised.
        let record = BuildRecord(fingerprint: spec.fingerprint, base_directory: spec.resolvePath("."),
                                 created: created, tool_version: toolVersion)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try store.put(CubeLayout.buildKey, enc.encode(record))
        return removed.map { .replaced(removedObjects: $0) } ?? .created
    }

    /// The spec fields two fingerprints differ in (`time.end`, `composite`, `grid.chunk`, ...).
    static func changedFields(old: String, new: String) -> [String] {
        // Each line is "key=value key=value ..."; a value with spaces (a WKT) continues its token.
        func fields(_ fingerprint: String) -> [String: String] {
            var out: [String: String] = [:]
            for line in fingerprint.split(separator: "\n") {
                var section = "", key = ""
                for word in line.split(separator: " ", omittingEmptySubsequences: false) {
                    if let eq = word.firstIndex(of: "="), !word[..<eq].contains(where: { "{[(\"".contains($0) }) {
                        key = String(word[..<eq])
                        if section.isEmpty { section = key.split(separator: ".").first.map(String.init) ?? key }
                        out[key.contains(".") || key == section ? key : "\(section).\(key)", default: ""] += word[word.index(after: eq)...]
                    } else {
                        out[key.contains(".") || key == section ? key : "\(section).\(key)", default: ""] += " " + word
                    }
                }
            }
            // time=START..END step=S: start and end apart.
            if let t = out.removeValue(forKey: "time"), let r = t.range(of: "..") {
                out["time.start"] = String(t[..<r.lowerBound])
                out["time.end"] = String(t[r.upperBound...])
            }
            return out
        }
        let a = fields(old), b = fields(new)
        // Tokens named after their line's first key, spelled as the spec spells them.
        let spelled = ["grid.res": "grid.resolution", "fuse.composite": "composite", "fuse.resampling": "resampling",
                       "zarr_format.compression": "compression"]
        let names = { (k: String) -> String in spelled[k] ?? k }
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.map(names).sorted()
    }

    /// Grows the cube in `store` to the bins of `spec`, whose only change is a later `time.end`.
    /// Nothing of the existing bins is rewritten: the new bins' time coordinate chunks are added
    /// (outside the published shape), then the spec and plan, then the build record. The arrays
    /// keep their published shape until `publish` moves it over complete bins.
    static func extend(store: any Store, to spec: CubeSpec, record: BuildRecord, now: Date) throws -> InitOutcome {
        let (oldSpec, oldPlan, oldLayout) = try open(store: store)
        guard oldSpec.time.start == spec.time.start, oldSpec.time.step == spec.time.step else {
            throw SchemaError("time: \(store) holds a cube from \(iso(oldSpec.time.start)) in steps of \(oldSpec.time.step); only a later time.end can be appended (start and step must stay), or use --force to replace it")
        }
        guard spec.time.end >= oldSpec.time.end else {
            throw SchemaError("time.end: \(iso(spec.time.end)) is before the stored cube's end \(iso(oldSpec.time.end)); a cube does not shrink (use --force to replace it, or another store)")
        }
        let bins = try TimeBins.make(spec.time)
        guard bins.count >= oldPlan.bins.count, Array(bins.prefix(oldPlan.bins.count)) == oldPlan.bins else {
            throw SchemaError("time: the new bins do not continue the stored ones; use --force to replace the cube")
        }
        let zarr = ZarrHierarchy(store: store, format: oldLayout.format)
        let timeMeta = try zarr.readArrayMetadata(path: oldLayout.arrayPath(CubeLayout.timeArray))
        guard timeMeta.chunks == [1] else {
            throw SchemaError("\(store) was written by an earlier cube whose time coordinate is one chunk, which cannot grow without rewriting what readers read; build the new months into a new store, or rebuild with --force")
        }
        let plan = Plan(grid: oldPlan.grid, bins: bins, land: oldPlan.land, landMaskDescription: oldPlan.landMaskDescription)
        let layout = CubeLayout(spec: spec, plan: plan)
        for level in layout.levels {
            try writeTimeChunks(level: level.level, bins: Array(bins[oldPlan.bins.count...]), layout: layout, zarr: zarr)
        }
        try store.put(CubeLayout.specKey, Data(spec.sourceText.utf8))
        try store.put(Plan.storeKey, plan.encoded())
        var grown = record
        grown.fingerprint = spec.fingerprint
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try store.put(CubeLayout.buildKey, enc.encode(grown))
        return .extended(from: oldPlan.bins.count, to: bins.count)
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate]
        return f.string(from: d)
    }

    /// Opens an initialised cube: its spec (relative paths resolved as at init), plan and layout.
    public static func open(store: any Store) throws -> (spec: CubeSpec, plan: Plan, layout: CubeLayout) {
        guard let buildData = try store.get(CubeLayout.buildKey) else {
            throw SchemaError("\(store) is not an initialised cube (no \(CubeLayout.buildKey)); run `cube init` first")
        }
        let record = try JSONDecoder().decode(BuildRecord.self, from: buildData)
        guard let specData = try store.get(CubeLayout.specKey), let text = String(data: specData, encoding: .utf8),
              let planData = try store.get(Plan.storeKey) else {
            throw SchemaError("\(store) is missing its spec or plan; re-run `cube init`")
        }
        var spec = try CubeSpec.parse(yaml: text, baseDirectory: URL(fileURLWithPath: record.base_directory))
        spec.store = store.description
        let plan = try Plan.decode(planData)
        return (spec, plan, CubeLayout(spec: spec, plan: plan))
    }

    /// Removes every object of a previous cube (for `--force`), returning how many.
    static func removeCube(_ store: any Store) throws -> Int {
        let keys = try store.list(prefix: "")
        for key in keys { try store.delete(key) }
        return keys.count
    }

    static func writeSchema(spec: CubeSpec, layout: CubeLayout, store: any Store, created: String) throws {
        let zarr = ZarrHierarchy(store: store, format: layout.format)
        let plan = layout.plan

        // The spec text and plan travel with the store so any machine can run jobs.
        try store.put(CubeLayout.specKey, Data(spec.sourceText.utf8))
        try store.put(Plan.storeKey, plan.encoded())

        var root: [String: JSONValue] = [
            "Conventions": "CF-1.8",
            "title": .string(spec.name),
            "source": .string("\(spec.sensors.map(\.profile.title).joined(separator: " and ")) via STAC, per-pixel \(spec.composite.joined(separator: ", ")) of cloud-free observations"),
            "cube:composite": .array(spec.composite.map { .string($0) }),
            "cube:version": .string(toolVersion),
            "cube:created": .string(created),
            "cube:spec": .string(spec.sourceText),
            "cube:complete": false,
            "cube:bins_complete": .array(Array(repeating: .bool(false), count: plan.bins.count)),
            "cube:land_mask": .string(plan.landMaskDescription),
            "cube:jobs": .int(Int64(plan.jobCount)),
            "cube:time_step": .string(spec.time.step.description),
            "cube:mask_invalid_classes": .ints(spec.mask.invalid),
            "cube:sensors": .array(spec.sensors.map { sensor in
                var entry: [String: JSONValue] = [
                    "collection": .string(sensor.collection), "profile": .string(sensor.profileID),
                    "mask_asset": sensor.mask.asset.map { .string($0) } ?? .null, "mask_invalid": .ints(sensor.mask.invalid),
                    "band_assets": .strings(spec.bandAssets(sensor))]
                if !sensor.mask.filters.steps.isEmpty {
                    entry["mask_filters"] = .array(sensor.mask.filters.steps.map {
                        .array([.string($0.operation.rawValue), .int(Int64($0.radius))])
                    })
                }
                return .object(entry)
            }),
            "cube:resampling": .string(spec.resampling.rawValue),
            "cube:fuse": .string(spec.fuse.rawValue),
        ]
        if case .api(let url, let collections, _) = spec.stac {
            root["cube:stac_api"] = .string(url)
            root["cube:stac_collection"] = .string(collections.joined(separator: ","))
        }
        if layout.hasPyramid {
            root["zarr_conventions"] = .array([Self.multiscalesConvention])
            root["multiscales"] = Self.multiscales(layout)
        }
        try zarr.createGroup(attributes: root)
        // zarr-python (and so xarray) warns about any non-Zarr folder it meets while listing a
        // group without consolidated metadata; as a group, `_cube/` is a known node instead.
        try zarr.createGroup(path: CubeLayout.bookkeepingGroup, attributes: [
            "description": "cube bookkeeping (spec, plan, build and done records); no arrays",
        ])
        for level in layout.levels {
            try writeLevel(level, spec: spec, layout: layout, zarr: zarr, published: plan.bins.count)
            try writeTimeChunks(level: level.level, bins: plan.bins, layout: layout, zarr: zarr)
        }
        try zarr.consolidate()
    }


    /// The arrays of one pyramid level (the base when the cube has no pyramid): grid mapping,
    /// coordinates, time and the data arrays, in the level's group.
    static func writeLevel(_ level: PyramidLevel, spec: CubeSpec, layout: CubeLayout, zarr: ZarrHierarchy,
                           published: Int) throws {
        let grid = layout.grid

        let srs = grid.crs.reference
        let wkt = srs.wkt1
        let levelNumber = level.level
        let gt = level.geoTransform
        let geoTransform = gt.array.map { formatNumber($0) }.joined(separator: " ")
        if layout.hasPyramid {
            try zarr.createGroup(path: layout.levelGroup(levelNumber), attributes: [
                "cube:level": .int(Int64(levelNumber)),
                "cube:resolution": .array([.double(level.resolutionX), .double(level.resolutionY)]),
                "title": .string(levelNumber == 0 ? "\(spec.name): base level" : "\(spec.name): level \(levelNumber) (\(level.factor)x coarser)"),
            ])
        }
        func path(_ name: String) -> String { layout.arrayPath(name, level: levelNumber) }
        // Grid mapping: CF + GDAL conventions, read by rioxarray, odc-geo and GDAL.
        var gridMapping: [String: JSONValue] = [
            "crs_wkt": .string(wkt),
            "spatial_ref": .string(wkt),
            "GeoTransform": .string(geoTransform),
        ]
        if srs.isGeographic { gridMapping["grid_mapping_name"] = "latitude_longitude" }
        if let epsg = grid.crs.epsg { gridMapping["epsg"] = .int(Int64(epsg)) }
        try zarr.createArray(path: path(CubeLayout.gridMappingArray), metadata: ArrayMetadata(
            shape: [], chunks: [], dataType: .int32, fillValue: .zero, dimensionNames: [],
            attributes: gridMapping, compression: .none))

        // Coordinates: pixel centres from integers, one float64 array per axis.
        let geographic = grid.crs.isGeographic
        let unit = geographic ? "degrees" : (srs.unitName == "metre" || srs.unitName == "meter" ? "m" : srs.unitName)
        try writeCoordinate(zarr, path: path(layout.xName), name: layout.xName, values: level.xCoordinates, attributes: [
            "standard_name": .string(geographic ? "longitude" : "projection_x_coordinate"),
            "long_name": .string(geographic ? "longitude" : "x coordinate of projection"),
            "units": .string(geographic ? "degrees_east" : unit), "axis": "X",
        ])
        try writeCoordinate(zarr, path: path(layout.yName), name: layout.yName, values: level.yCoordinates, attributes: [
            "standard_name": .string(geographic ? "latitude" : "projection_y_coordinate"),
            "long_name": .string(geographic ? "latitude" : "y coordinate of projection"),
            "units": .string(geographic ? "degrees_north" : unit), "axis": "Y",
        ])

        try writeTimeMetadata(level: levelNumber, layout: layout, zarr: zarr, published: published)

        try writeDataMetadata(level: levelNumber, spec: spec, layout: layout, zarr: zarr, published: published)
    }

    /// The time coordinate and its bounds for the first `published` bins: CF days since the
    /// epoch at bin starts, with [start, end) bounds. One chunk per bin, so growing the axis
    /// adds chunk objects and never rewrites one a reader of the previous shape reads.
    static func writeTimeMetadata(level: Int, layout: CubeLayout, zarr: ZarrHierarchy, published: Int) throws {
        try zarr.createArray(path: layout.arrayPath(CubeLayout.timeArray, level: level), metadata: timeMetadata(published))
        try zarr.createArray(path: layout.arrayPath(CubeLayout.timeBoundsArray, level: level), metadata: timeBoundsMetadata(published))
    }

    static func timeMetadata(_ bins: Int) -> ArrayMetadata {
        ArrayMetadata(shape: [bins], chunks: [1], dataType: .int64,
                      fillValue: .zero, dimensionNames: [CubeLayout.timeArray],
                      attributes: ["standard_name": "time", "long_name": "start of the time bin",
                                   "units": "days since 1970-01-01", "calendar": "proleptic_gregorian",
                                   "axis": "T", "bounds": .string(CubeLayout.timeBoundsArray)],
                      compression: .none)
    }

    static func timeBoundsMetadata(_ bins: Int) -> ArrayMetadata {
        ArrayMetadata(shape: [bins, 2], chunks: [1, 2], dataType: .int64,
                      fillValue: .zero, dimensionNames: [CubeLayout.timeArray, "nv"],
                      attributes: ["long_name": "time bin bounds [start, end)",
                                   "units": "days since 1970-01-01", "calendar": "proleptic_gregorian"],
                      compression: .none)
    }

    /// The time and bounds chunks of `bins` (objects beyond the published shape are invisible
    /// to readers until the shape grows over them).
    static func writeTimeChunks(level: Int, bins: [TimeBin], layout: CubeLayout, zarr: ZarrHierarchy) throws {
        let all = layout.plan.bins.count
        let time = timeMetadata(all), bounds = timeBoundsMetadata(all)
        for bin in bins {
            let start = Int64(TimeBinsDays.days(bin.start)), end = Int64(TimeBinsDays.days(bin.end))
            try zarr.writeChunk(arrayPath: layout.arrayPath(CubeLayout.timeArray, level: level), metadata: time,
                                chunkIndex: [bin.index], values: [start])
            try zarr.writeChunk(arrayPath: layout.arrayPath(CubeLayout.timeBoundsArray, level: level), metadata: bounds,
                                chunkIndex: [bin.index, 0], values: [start, end])
        }
    }

    /// The (time, y, x) arrays of one level with a time length of `published`: what the
    /// composite's statistics declare, `count`, and a mixed cube's per-sensor counts.
    static func writeDataMetadata(level levelNumber: Int, spec: CubeSpec, layout: CubeLayout, zarr: ZarrHierarchy,
                                  published: Int) throws {
        let grid = layout.grid
        let wkt = grid.crs.reference.wkt1
        func path(_ name: String) -> String { layout.arrayPath(name, level: levelNumber) }
        // Data arrays: one uint16 array per band, and the observation count.
        var common: [String: JSONValue] = [
            "grid_mapping": .string(CubeLayout.gridMappingArray),
            "coordinates": .string(CubeLayout.gridMappingArray),
        ]
        if layout.format == .v2 {
            // GDAL 3.6 reads the CRS of a Zarr v2 array from `_CRS` only.
            var crsDoc: [String: JSONValue] = ["wkt": .string(wkt)]
            if let epsg = grid.crs.epsg { crsDoc["url"] = .string("http://www.opengis.net/def/crs/EPSG/0/\(epsg)") }
            common["_CRS"] = .object(crsDoc)
        }
        // Data arrays: what the composite's statistics declare, and the observation count.
        let assets = Dictionary(uniqueKeysWithValues: spec.bands.map { ($0.name, $0.asset) })
        for output in layout.outputs {
            var attrs = common
            attrs["long_name"] = .string(output.longName)
            attrs["units"] = .string(output.units)
            attrs["cube:statistic"] = .string(output.statistic)
            attrs["cube:rule"] = .string(output.rule)
            if levelNumber > 0 {
                attrs["cube:pyramid_rule"] = output.type == .int32
                    ? "the first valid cell of the 2x2 below in row-major order (no data when none is valid)"
                    : "mean of the valid cells of the 2x2 below (no data when none is valid)"
            }
            if let band = output.band {
                attrs["cube:band"] = .string(band)
                if let asset = assets[band] { attrs["stac_asset"] = .string(asset) }
            }
            // Float arrays say "no data" with their NaN fill value. Reflectance arrays carry the
            // CF scale and fill value, so xarray decodes them to reflectance with NaN for no
            // data in both Zarr formats (v3 fill values are not CF _FillValue by themselves).
            if output.type == .uint16 {
                // The meaning of the stored integers is the sensors' value domain's.
                let domain = spec.valueDomain
                attrs["scale_factor"] = .double(domain.scaleFactor)
                attrs["add_offset"] = .double(domain.addOffset)
                if output.band != nil { attrs["units"] = .string(domain.units) }
                // v2 readers take `fill_value` as CF _FillValue already; repeating it would clash.
                if layout.format == .v3 { attrs["_FillValue"] = 0 }
                attrs["scale_factor_note"] = .string(domain.addOffset == 0
                    ? "\(domain.quantity == "surface reflectance" ? "reflectance" : domain.quantity) = value * \(domain.scaleFactor) (scale_factor, no offset for every sensor); 0 = no data"
                    : "\(domain.quantity) = value * \(domain.scaleFactor) + \(domain.addOffset) \(domain.units) (scale_factor, add_offset); 0 = no data")
                attrs["nodata"] = 0
            }
            // Dates: CF units ("days since 1970-01-01") make xarray decode them to datetime64,
            // the fill value to NaT.
            if output.type == .int32 {
                if output.units.hasPrefix("days since") { attrs["calendar"] = "proleptic_gregorian" }
                if layout.format == .v3 { attrs["_FillValue"] = .int(Int64(OutputType.int32Fill)) }
                attrs["nodata"] = .int(Int64(OutputType.int32Fill))
            }
            try zarr.createArray(path: path(output.name), metadata: layout.dataArrayMetadata(output.name, level: levelNumber, attributes: attrs, bins: published))
        }
        var countAttrs = common
        countAttrs["long_name"] = "number of valid observations (solar days) in the time bin"
        countAttrs["units"] = "1"
        countAttrs["cube:statistic"] = "count"
        if levelNumber > 0 { countAttrs["cube:pyramid_rule"] = "sum of the 2x2 cells below" }
        try zarr.createArray(path: path(CubeLayout.countArray), metadata: layout.dataArrayMetadata(CubeLayout.countArray, level: levelNumber, attributes: countAttrs, bins: published))
        // Mixed cubes: how many of the observations came from each sensor.
        for (sensor, name) in zip(spec.sensors, spec.sensorCountNames) {
            var attrs = common
            attrs["long_name"] = .string("number of valid \(sensor.profile.title) observations (solar days) in the time bin")
            attrs["units"] = "1"
            attrs["cube:statistic"] = "count"
            attrs["cube:collection"] = .string(sensor.collection)
            try zarr.createArray(path: path(name), metadata: layout.dataArrayMetadata(name, level: levelNumber, attributes: attrs, bins: published))
        }

    }

    static func writeCoordinate(_ zarr: ZarrHierarchy, path: String, name: String, values: [Double], attributes: [String: JSONValue]) throws {
        let chunk = min(values.count, 1 << 20)
        let meta = ArrayMetadata(shape: [values.count], chunks: [chunk], dataType: .float64, fillValue: .float(.nan),
                                 dimensionNames: [name], attributes: attributes, compression: .zstd(level: 3))
        try zarr.createArray(path: path, metadata: meta)
        var start = 0
        var index = 0
        while start < values.count {
            var piece = Array(values[start..<min(start + chunk, values.count)])
            if piece.count < chunk { piece += Array(repeating: .nan, count: chunk - piece.count) }
            try zarr.writeChunk(arrayPath: path, metadata: meta, chunkIndex: [index], values: piece)
            start += chunk
            index += 1
        }
    }

    /// The multiscales convention's registration (zarr-conventions/multiscales).
    static let multiscalesConvention: JSONValue = [
        "uuid": "d35379db-88df-4056-af3a-620245f8e347",
        "name": "multiscales",
        "schema_url": "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v0.1.0/schema.json",
        "spec_url": "https://github.com/zarr-conventions/multiscales/blob/v0.1.0/README.md",
        "description": "Multiscale layout of zarr datasets",
    ]

    /// The root's `multiscales`: level L in group "L", each derived from the level below by
    /// halving the resolution, with its absolute position (`proj:transform`, `proj:shape`).
    static func multiscales(_ layout: CubeLayout) -> JSONValue {
        let entries: [JSONValue] = layout.levels.map { level in
            var entry: [String: JSONValue] = [
                "asset": .string(layout.levelGroup(level.level)),
                "transform": ["scale": [.double(Double(level.factor)), .double(Double(level.factor))],
                              "translation": [0.0, 0.0]],
                "scale": [.double(Double(level.factor)), .double(Double(level.factor))],
                "proj:transform": .array(level.geoTransform.array.map { .double($0) }),
                "proj:shape": .ints([level.height, level.width]),
            ]
            if level.level > 0 {
                entry["derived_from"] = .string(layout.levelGroup(level.level - 1))
                entry["transform"] = ["scale": [2.0, 2.0], "translation": [0.0, 0.0]]
                entry["scale"] = [2.0, 2.0]
            }
            return .object(entry)
        }
        return ["layout": .array(entries), "resampling_method": "average"]
    }

    /// Numbers in the GeoTransform string: shortest text that reads back exactly.
    static func formatNumber(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }
}

enum TimeBinsDays {
    static func days(_ d: Date) -> Int { Int((d.timeIntervalSince1970 / 86_400).rounded(.down)) }
}
