import Composite
import CubeCore
import Foundation
import Sensors
import Yams

extension CubeSpec {
    static let topKeys = ["name", "description", "stac", "grid", "time", "bands", "mask", "fuse", "composite",
                          "indices", "resampling", "overviews", "land_mask", "store", "zarr_format", "compression", "pyramid"]
    /// Names the cube itself uses for coordinates and bookkeeping; a band may not take them.
    public static let reservedArrayNames: Set<String> = Set([
        "count", "time", "time_bnds", "x", "y", "latitude", "longitude", "spatial_ref", StoreKeys.folder,
    ] + SensorProfiles.all.map { "count_\($0.shortName)" })
    /// Largest chunk edge accepted: 8192² uint16 is 128 MiB per band chunk already.
    public static let maxChunk = 8192
    public static let minChunk = 16

    /// Reads and validates a spec file. Relative paths inside it resolve against its folder.
    public static func load(path: String) throws -> CubeSpec {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SpecError("spec", "cannot read \(path): \((error as NSError).localizedDescription)")
        }
        guard data.count <= 1 << 20 else { throw SpecError("spec", "\(path) is larger than 1 MiB; not a cube spec") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SpecError("spec", "\(path) is not UTF-8 text")
        }
        let name = url.deletingPathExtension().lastPathComponent
        return try parse(yaml: text, baseDirectory: url.deletingLastPathComponent(), defaultName: name)
    }

    public static func parse(yaml text: String, baseDirectory: URL = URL(fileURLWithPath: "."),
                             defaultName: String = "cube") throws -> CubeSpec {
        if text.unicodeScalars.contains(where: { $0.value == 0 || ($0.value < 32 && !"\t\n\r".unicodeScalars.contains($0)) }) {
            throw SpecError("spec", "contains control characters; not a YAML text file")
        }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw SpecError("spec", "is empty") }
            root = node
        } catch let e as SpecError {
            throw e
        } catch {
            let text = oneLine(String(describing: error))
            // Yams refuses duplicate keys itself; name the key like every other error does.
            if let r = text.range(of: #"duplicated key\(s\): '([^']+)'"#, options: .regularExpression) {
                let key = text[r].split(separator: "'").dropFirst().first.map(String.init) ?? "spec"
                throw SpecError(key, "key given twice")
            }
            throw SpecError("spec", "invalid YAML: \(text)")
        }
        let top = try Fields(root, path: "")
        try top.requireOnly(topKeys)

        let name = try top.string("name") ?? defaultName
        try checkName(name, field: "name")
        _ = try top.string("description")

        let stacFields = try Fields(top.required("stac"), path: "stac")
        let stac = try parseStac(stacFields)
        let profileName = try stacFields.string("profile")
        let grid = try parseGrid(Fields(top.required("grid"), path: "grid"))
        let time = try parseTime(Fields(top.required("time"), path: "time"))
        let bands = try parseBands(top.required("bands"))
        let sensors = try parseSensors(stac: stac, profile: profileName, maskNode: top.node("mask"), bands: bands)
        let fuse = try enumValue(top, "fuse", FusionRule.self) ?? .firstData
        let indices = try top.node("indices").map { try parseIndices($0, bands: bands) } ?? []
        let composite = try parseComposite(top.node("composite"), bands: bands, indices: indices,
                                           domain: sensors.first?.profile.valueDomain)
        let resampling = try enumValue(top, "resampling", Resampling.self) ?? .nearest
        var overviews = Overviews.none
        if let node = top.node("overviews") {
            guard case .scalar(let s) = node, let value = Overviews(s.string) else {
                throw SpecError(top.field("overviews"), "expected auto, none or a level number (1, 2, ...)")
            }
            overviews = value
        }

        var landMask = LandMaskSource.embedded
        if let lm = try top.string("land_mask") {
            switch lm.lowercased() {
            case "embedded", "default", "globe": landMask = .embedded
            case "none", "off": landMask = .none
            default: landMask = .path(lm)
            }
        } else if top.node("land_mask") == nil, top.has("land_mask") {
            landMask = .embedded
        }

        var store = try top.string("store") ?? "\(name).zarr"
        if store.hasPrefix("s3://") == false, store.contains("\0") {
            throw SpecError("store", "is not a valid path")
        }
        // Like every path in a spec, a relative store is relative to the spec's folder, so a
        // build does not depend on where it was started from (a --store option is not).
        // `icechunk:` wraps a location of its own: a relative folder inside it is resolved too.
        let wrapper = store.lowercased().hasPrefix("icechunk:") ? String(store.prefix("icechunk:".count)) : ""
        let inner = String(store.dropFirst(wrapper.count))
        if !inner.hasPrefix("/"), !inner.contains("://"), !inner.isEmpty {
            store = wrapper + CubeSpec.resolve(inner, against: baseDirectory)
        }
        let zarrFormat = try top.int("zarr_format") ?? 3
        guard zarrFormat == 2 || zarrFormat == 3 else {
            throw SpecError("zarr_format", "must be 2 or 3, got \(zarrFormat)")
        }
        let compression = try top.node("compression").map { try parseCompression($0) } ?? .default
        if grid.innerChunk != nil, zarrFormat != 3 {
            throw SpecError("grid.inner_chunk", "needs zarr_format 3 (sharding is a Zarr v3 codec)")
        }
        var pyramid = false
        if let p = try top.string("pyramid") {
            switch p.lowercased() {
            case "true", "yes", "on": pyramid = true
            case "false", "no", "off": pyramid = false
            default: throw SpecError("pyramid", "must be true or false, got \(p.prefix(20))")
            }
        }

        return CubeSpec(name: name, stac: stac, grid: grid, time: time, bands: bands, sensors: sensors, fuse: fuse,
                        composite: composite, indices: indices, resampling: resampling, overviews: overviews, landMask: landMask,
                        store: store, zarrFormat: zarrFormat, compression: compression, pyramid: pyramid,
                        baseDirectory: baseDirectory, sourceText: text)
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    static func checkName(_ name: String, field: String) throws {
        // \z, not $: `$` also matches before a final newline ("red\n").
        let ok = name.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\\z", options: .regularExpression) != nil
        guard ok else {
            throw SpecError(field, "'\(Fields.clip(name))' must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
        }
    }

    static func enumValue<E: RawRepresentable & CaseIterable>(_ f: Fields, _ key: String, _: E.Type) throws -> E?
    where E.RawValue == String {
        guard let raw = try f.string(key) else { return nil }
        guard let v = E(rawValue: raw.lowercased()) else {
            throw SpecError(f.field(key), "unknown value '\(Fields.clip(raw))'; expected one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    // MARK: sections

    static func parseStac(_ f: Fields) throws -> StacSpec {
        try f.requireOnly(["api", "collection", "collections", "profile", "items", "max_cloud_cover"])
        let cloud = try f.number("max_cloud_cover")
        if let c = cloud, !(0...100).contains(c) {
            throw SpecError(f.field("max_cloud_cover"), "must be a percentage between 0 and 100, got \(c)")
        }
        var collections: [String] = []
        if let one = try f.string("collection") { collections = [one] }
        if let node = f.node("collections") {
            guard collections.isEmpty else {
                throw SpecError("stac", "give collection (one) or collections (a list), not both")
            }
            let items = try Fields.list(node, f.field("collections"))
            guard !items.isEmpty else { throw SpecError(f.field("collections"), "needs at least one collection") }
            for (i, item) in items.enumerated() {
                let c = try Fields.string(item, f.field("collections") + "[\(i)]")
                guard !collections.contains(c) else {
                    throw SpecError(f.field("collections") + "[\(i)]", "'\(Fields.clip(c))' is listed twice")
                }
                collections.append(c)
            }
        }
        switch (try f.string("api"), try f.string("items")) {
        case (let api?, nil):
            guard let url = URL(string: api), let scheme = url.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", url.host != nil else {
                throw SpecError(f.field("api"), "'\(Fields.clip(api))' is not an http(s) URL")
            }
            guard !collections.isEmpty else { throw SpecError(f.field("collection"), "is required with stac.api") }
            return .api(url: api, collections: collections, maxCloudCover: cloud)
        case (nil, let items?):
            return .file(path: items, collections: collections, maxCloudCover: cloud)
        case (.some, .some):
            throw SpecError("stac", "give either api (a STAC API) or items (a local file), not both")
        case (nil, nil):
            throw SpecError("stac", "needs api (a STAC API URL) and collection, or items (a local ItemCollection/ndjson file)")
        }
    }

    static func parseGrid(_ f: Fields) throws -> GridSpec {
        try f.requireOnly(["crs", "resolution", "bbox", "bbox_crs", "chunk", "inner_chunk"])
        let crsNode = try f.required("crs")
        let crs: String
        if case .scalar(let s) = crsNode, s.style == .plain, let code = Int(s.string) {
            crs = "EPSG:\(code)"
        } else {
            crs = try Fields.string(crsNode, f.field("crs"))
        }

        let resNode = try f.required("resolution")
        let rx: Double, ry: Double
        if case .sequence = resNode {
            let items = try Fields.list(resNode, f.field("resolution"))
            guard items.count == 2 else {
                throw SpecError(f.field("resolution"), "expected one number or [x, y], got a list of \(items.count)")
            }
            rx = try Fields.number(items[0], f.field("resolution") + "[0]")
            ry = try Fields.number(items[1], f.field("resolution") + "[1]")
        } else {
            rx = try Fields.number(resNode, f.field("resolution"))
            ry = rx
        }
        for (v, axis) in [(rx, "x"), (ry, "y")] where !(v > 0) {
            throw SpecError(f.field("resolution"), "\(axis) resolution must be positive, got \(v)")
        }

        let bboxNodes = try Fields.list(try f.required("bbox"), f.field("bbox"))
        guard bboxNodes.count == 4 else {
            throw SpecError(f.field("bbox"), "expected [min x, min y, max x, max y], got \(bboxNodes.count) values")
        }
        let bbox = try bboxNodes.enumerated().map { try Fields.number($1, f.field("bbox") + "[\($0)]") }
        let bboxCRS: BBoxCRS
        if let raw = try f.string("bbox_crs") {
            switch raw.lowercased() {
            case "lonlat", "wgs84", "epsg:4326": bboxCRS = .lonLat
            case "grid", "crs", "native": bboxCRS = .grid
            default: throw SpecError(f.field("bbox_crs"), "unknown value '\(Fields.clip(raw))'; expected lonlat or grid")
            }
        } else {
            bboxCRS = .lonLat
        }
        if bboxCRS == .lonLat {
            let (w, s, e, n) = (bbox[0], bbox[1], bbox[2], bbox[3])
            for (v, what) in [(w, "min longitude"), (e, "max longitude")] where !(-180...180).contains(v) {
                throw SpecError(f.field("bbox"), "\(what) \(v) is outside -180..180")
            }
            for (v, what) in [(s, "min latitude"), (n, "max latitude")] where !(-90...90).contains(v) {
                throw SpecError(f.field("bbox"), "\(what) \(v) is outside -90..90")
            }
            if w > e {
                throw SpecError(f.field("bbox"), "min longitude \(w) is east of max longitude \(e): a bbox across the antimeridian is not supported; split it into two cubes")
            }
        }
        if !(bbox[0] < bbox[2]) {
            throw SpecError(f.field("bbox"), "min x \(bbox[0]) must be below max x \(bbox[2])")
        }
        if !(bbox[1] < bbox[3]) {
            throw SpecError(f.field("bbox"), "min y \(bbox[1]) must be below max y \(bbox[3])")
        }

        let chunk = try Fields.int(try f.required("chunk"), f.field("chunk"))
        guard chunk >= minChunk else { throw SpecError(f.field("chunk"), "must be at least \(minChunk) pixels, got \(chunk)") }
        guard chunk <= maxChunk else { throw SpecError(f.field("chunk"), "\(chunk) pixels is too large; at most \(maxChunk)") }
        var inner: Int?
        if let n = try f.int("inner_chunk") {
            guard n >= minChunk else { throw SpecError(f.field("inner_chunk"), "must be at least \(minChunk) pixels, got \(n)") }
            guard n < chunk, chunk % n == 0 else {
                throw SpecError(f.field("inner_chunk"), "must be smaller than chunk (\(chunk)) and divide it, got \(n)")
            }
            inner = n
        }
        return GridSpec(crs: crs, resolutionX: rx, resolutionY: ry, bbox: bbox, bboxCRS: bboxCRS, chunk: chunk,
                        innerChunk: inner)
    }

    static func parseTime(_ f: Fields) throws -> TimeSpec {
        try f.requireOnly(["start", "end", "step"])
        let start = try parseInstant(try f.required("start"), f.field("start"), endOfDay: false)
        let end = try parseInstant(try f.required("end"), f.field("end"), endOfDay: true)
        guard end >= start else {
            throw SpecError(f.field("end"), "is before time.start")
        }
        let step = try f.node("step").map { try parseStep($0, f.field("step")) } ?? .months(1)
        return TimeSpec(start: start, end: end, step: step)
    }

    /// `2024-03-01`, or a full RFC 3339 instant. A bare end date means the end of that day.
    static func parseInstant(_ n: Node, _ field: String, endOfDay: Bool) throws -> Date {
        let raw = try Fields.string(n, field)
        // ASCII digits only: `\d` also matches other scripts' digits, which Int() does not read.
        if raw.range(of: #"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"#, options: .regularExpression) != nil {
            let parts = raw.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3 else { throw SpecError(field, "'\(Fields.clip(raw))' is not a valid date") }
            var c = DateComponents()
            (c.year, c.month, c.day) = (parts[0], parts[1], parts[2])
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC")!
            guard (1900...2200).contains(parts[0]), c.isValidDate(in: cal), let d = cal.date(from: c) else {
                throw SpecError(field, "'\(raw)' is not a valid date (years 1900-2200)")
            }
            return endOfDay ? d.addingTimeInterval(86_400 - 0.001) : d
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let d = plain.date(from: raw) ?? formatter.date(from: raw) else {
            throw SpecError(field, "'\(Fields.clip(raw))' is not a date (YYYY-MM-DD) or RFC 3339 time")
        }
        guard d.timeIntervalSince1970 > -2_208_988_800, d.timeIntervalSince1970 < 7_258_118_400 else {
            throw SpecError(field, "'\(raw)' is outside the years 1900-2200")
        }
        return d
    }

    /// `1 month`, `3 months`, `10 days`, `1M`, `10D`, `P1M`, `P10D`, `monthly`, or a bare number of months.
    static func parseStep(_ n: Node, _ field: String) throws -> TimeStep {
        let raw = try Fields.string(n, field).lowercased().trimmingCharacters(in: .whitespaces)
        let bad = SpecError(field, "'\(Fields.clip(raw))' is not a step; use e.g. '1 month', '3 months' or '10 days'")
        if raw == "monthly" { return .months(1) }
        if raw == "daily" { return .days(1) }
        var text = raw.hasPrefix("p") ? String(raw.dropFirst()) : raw
        text = text.replacingOccurrences(of: " ", with: "")
        let digits = text.prefix(while: \.isNumber)
        let unit = text.dropFirst(digits.count)
        guard let count = Int(digits) else { throw bad }
        guard count > 0 else { throw SpecError(field, "must be a positive number of months or days") }
        switch unit {
        case "", "m", "month", "months", "mo":
            guard count <= 120 else { throw SpecError(field, "\(count) months is more than 10 years") }
            return .months(count)
        case "d", "day", "days":
            guard count <= 3660 else { throw SpecError(field, "\(count) days is more than 10 years") }
            return .days(count)
        default:
            throw bad
        }
    }

    static func parseBands(_ n: Node) throws -> [BandSpec] {
        let items = try Fields.list(n, "bands")
        guard !items.isEmpty else { throw SpecError("bands", "needs at least one band") }
        guard items.count <= 64 else { throw SpecError("bands", "at most 64 bands, got \(items.count)") }
        var bands: [BandSpec] = []
        for (i, item) in items.enumerated() {
            let field = "bands[\(i)]"
            let band: BandSpec
            if case .mapping = item {
                let f = try Fields(item, path: field)
                try f.requireOnly(["asset", "name"])
                guard let asset = try f.string("asset") else { throw SpecError(f.field("asset"), "is required") }
                band = BandSpec(asset: asset, name: try f.string("name"))
            } else {
                band = BandSpec(asset: try Fields.string(item, field))
            }
            try checkName(band.asset, field: "\(field).asset")
            try checkName(band.name, field: "\(field).name")
            if reservedArrayNames.contains(band.name) {
                throw SpecError(field, "'\(band.name)' is reserved for the cube's own arrays; give the band another name")
            }
            if bands.contains(where: { $0.name == band.name }) {
                throw SpecError(field, "band name '\(band.name)' is listed twice")
            }
            if bands.contains(where: { $0.asset == band.asset }) {
                throw SpecError(field, "asset '\(band.asset)' is listed twice")
            }
            bands.append(band)
        }
        return bands
    }

    /// `composite: median` or `composite: [median, p10, p90]`: canonical statistic names, and
    /// no array they write may clash with another or with the cube's own arrays.
    /// `domain`: the cube's value domain (a float32 cube refuses the geomedian).
    static func parseComposite(_ node: Node?, bands: [BandSpec], indices: [IndexSpec] = [],
                               domain: ValueDomain? = nil) throws -> [String] {
        var items: [(node: Node, field: String)] = []
        guard let n = node else { return try checkOutputs(["median"], bands: bands, indices: indices, domain: domain) }
        if case .sequence = n {
            items = try Fields.list(n, "composite").enumerated().map { ($1, "composite[\($0)]") }
            guard !items.isEmpty else { throw SpecError("composite", "needs at least one statistic") }
            guard items.count <= 32 else { throw SpecError("composite", "at most 32 statistics, got \(items.count)") }
        } else {
            items = [(n, "composite")]
        }
        var names: [String] = []
        for (node, field) in items {
            let raw = try Fields.string(node, field)
            let statistic: any CompositeStatistic
            do {
                statistic = try Statistics.parse(raw)
            } catch {
                throw SpecError(field, "\(error)".replacingOccurrences(of: raw, with: Fields.clip(raw)))
            }
            guard !names.contains(statistic.name) else {
                throw SpecError(field, "statistic '\(statistic.name)' is listed twice")
            }
            names.append(statistic.name)
        }
        return try checkOutputs(names, bands: bands, indices: indices, domain: domain)
    }

    /// No array of the composite and its indices may clash with another or the cube's own.
    static func checkOutputs(_ names: [String], bands: [BandSpec], indices: [IndexSpec],
                             domain: ValueDomain? = nil) throws -> [String] {
        let recipe: CompositeRecipe
        do {
            recipe = try CompositeRecipe(statistics: names, bands: bands.map(\.name),
                                         indices: indices.map { ($0.name, $0.expression) }, domain: domain)
        } catch StatisticError.noPerBandStatistic(let index) {
            throw SpecError("indices.\(index)", "needs a per-observation statistic in composite (median, mean, min, max or pNN); composite has \(names.joined(separator: ", "))")
        } catch let error as StatisticError {
            throw SpecError("composite", "\(error)")
        }
        var seen: [String: String] = [:]
        for output in recipe.outputs {
            let from = output.band.map { "band '\($0)', \(output.statistic)" }
                ?? (output.type == .float32 && !Geomedian.madNames.contains(output.name) ? "index, \(output.statistic)" : output.statistic)
            if reservedArrayNames.contains(output.name) {
                throw SpecError("composite", "array '\(output.name)' (\(from)) would take a name the cube reserves; rename the band")
            }
            if let other = seen[output.name] {
                throw SpecError("composite", "array '\(output.name)' is written twice (\(other) and \(from)); rename a band")
            }
            seen[output.name] = from
        }
        return names
    }

    /// `indices: [ndvi, nbr]` (the built-in catalogue) or `indices: {ndvi: "(nir - red) / (nir + red)", ...}`
    /// (an empty value: the catalogue's), list items may also be one-entry mappings. Each
    /// expression must compile over the spec's band names; errors give the position.
    static func parseIndices(_ n: Node, bands: [BandSpec]) throws -> [IndexSpec] {
        var entries: [(name: String, expression: String?, field: String)] = []
        switch n {
        case .sequence:
            for (i, item) in try Fields.list(n, "indices").enumerated() {
                if case .mapping = item {
                    let f = try Fields(item, path: "indices[\(i)]")
                    let keys = f.keys
                    guard keys.count == 1, let key = keys.first else {
                        throw SpecError("indices[\(i)]", "expected a name or one `name: expression`, got \(keys.count) keys")
                    }
                    entries.append((key, try indexExpression(f, key), "indices.\(key)"))
                } else {
                    let name = try Fields.string(item, "indices[\(i)]")
                    entries.append((name, nil, "indices.\(Fields.clip(name))"))
                }
            }
        case .mapping:
            let f = try Fields(n, path: "indices")
            for key in f.keys { entries.append((key, try indexExpression(f, key), "indices.\(key)")) }
        default:
            throw SpecError("indices", "expected a list of index names or a mapping of name: expression, got \(Fields.kind(n))")
        }
        guard entries.count <= 32 else { throw SpecError("indices", "at most 32 indices, got \(entries.count)") }
        var out: [IndexSpec] = []
        for (name, given, field) in entries {
            guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isLowercase || first == "_",
                  name.count <= 64,
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isLowercase || ("0"..."9").contains($0) || $0 == "_") })
            else { throw SpecError(field, "an index name is lower-case letters, digits and '_', starting with a letter") }
            guard !out.contains(where: { $0.name == name }) else { throw SpecError(field, "index '\(name)' is listed twice") }
            let expression: String
            if let given, !given.trimmingCharacters(in: .whitespaces).isEmpty {
                expression = given
            } else if let known = SpectralIndices.expression(name) {
                expression = known
            } else {
                throw SpecError(field, "'\(name)' is not in the built-in catalogue (\(SpectralIndices.names)); give its expression: `\(name): \"(nir - red) / (nir + red)\"`")
            }
            do {
                _ = try IndexProgram.compile(expression, bands: bands.map(\.name))
            } catch let e as IndexExpressionError {
                let source = given == nil || given!.trimmingCharacters(in: .whitespaces).isEmpty ? " (the catalogue's \(name))" : ""
                throw SpecError(field, "\(e) in '\(expression.count <= 120 ? expression : Fields.clip(expression))'\(source)")
            }
            out.append(IndexSpec(name: name, expression: expression))
        }
        return out
    }

    /// A mapping entry's expression; nil when left empty (the catalogue's).
    static func indexExpression(_ f: Fields, _ key: String) throws -> String? {
        guard let node = f.node(key) else { return nil }
        if case .scalar(let s) = node, s.string.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
        return try f.string(key)
    }

    /// One sensor per collection, each with its profile and mask, and every band checked
    /// against every sensor. `mask:` is `{asset, invalid}` for every sensor, or one such entry
    /// per collection (`mask: {sentinel-2-l2a: {...}, landsat-c2-l2: {...}}`).
    static func parseSensors(stac: StacSpec, profile named: String?, maskNode: Node?, bands: [BandSpec]) throws -> [SensorSpec] {
        let collections = stac.collections.isEmpty ? [""] : stac.collections
        var chosen: (any SensorProfile)?
        if let named {
            guard let p = SensorProfiles.named(named) else {
                throw SpecError("stac.profile", "unknown sensor profile '\(Fields.clip(named))'; built-in profiles: \(SensorProfiles.ids)")
            }
            guard collections.count == 1 else {
                throw SpecError("stac.profile", "applies to one collection; with several, each is read by its own profile")
            }
            chosen = p
        }
        var perCollection: [String: Fields] = [:]
        var shared: Fields?
        if let maskNode {
            let f = try Fields(maskNode, path: "mask")
            let keys = f.keys
            if !keys.isEmpty, keys.allSatisfy({ collections.contains($0) }) {
                for key in keys { perCollection[key] = try Fields(try f.required(key), path: "mask.\(key)") }
            } else if collections.count > 1, !keys.isEmpty {
                throw SpecError("mask", "with several collections give one entry per collection (\(collections.joined(separator: ", "))), each {asset, invalid, filters}")
            } else {
                shared = f
            }
        }
        var sensors: [SensorSpec] = []
        for collection in collections {
            let field = stac.collections.count > 1 ? "stac.collections" : "stac.collection"
            let profile: any SensorProfile
            if let chosen {
                profile = chosen
            } else if collection.isEmpty {
                profile = Sentinel2L2A()  // a local file without a collection: Sentinel-2 as always
            } else if let p = SensorProfiles.reading(collection: collection) {
                profile = p
            } else {
                throw SpecError(field, "no sensor profile reads collection '\(Fields.clip(collection))'; name one with stac.profile (\(SensorProfiles.ids))")
            }
            let mask = try parseMask(perCollection[collection] ?? shared, profile: profile)
            for (i, band) in bands.enumerated() {
                guard let asset = profile.asset(forBand: band.asset) else {
                    throw SpecError("bands[\(i)]", "\(profile.id) has no band '\(band.asset)'")
                }
                if asset == mask.asset {
                    throw SpecError(perCollection[collection] == nil && stac.collections.count <= 1 ? "mask.asset" : "mask",
                                    "'\(mask.asset ?? "")' is also listed as a band")
                }
            }
            sensors.append(SensorSpec(collection: collection, profileID: profile.id, mask: mask))
        }
        // One composite pools every sensor's observations: their cube values must mean the same.
        if let first = sensors.first?.profile.valueDomain,
           let other = sensors.first(where: { !$0.profile.valueDomain.sameCubeValues(first) }) {
            throw SpecError("stac.collections", "\(other.profileID) stores \(other.profile.valueDomain.quantity) (scale \(other.profile.valueDomain.scaleFactor), offset \(other.profile.valueDomain.addOffset), \(other.profile.valueDomain.units)), \(sensors[0].profileID) \(first.quantity) (scale \(first.scaleFactor), offset \(first.addOffset), \(first.units)): one cube cannot pool them")
        }
        if Set(sensors.map(\.profileID)).count < sensors.count {
            throw SpecError("stac.collections", "two collections of one sensor (\(sensors.map(\.profileID).joined(separator: ", "))) would mix their counts; list one")
        }
        return sensors
    }

    static func parseMask(_ f: Fields?, profile: any SensorProfile) throws -> MaskSpec {
        var mask = MaskSpec(asset: profile.maskAsset, invalid: profile.defaultInvalid)
        guard let f else { return mask }
        guard profile.maskAsset != nil else { throw SpecError("mask", "\(profile.id) has no mask asset; leave mask out") }
        try f.requireOnly(["asset", "invalid", "filters"])
        if let asset = try f.string("asset") {
            try checkName(asset, field: f.field("asset"))
            mask.asset = asset
        }
        if let node = f.node("invalid") {
            let items = try Fields.list(node, f.field("invalid"))
            var codes: [Int] = []
            for (i, item) in items.enumerated() {
                let text = try Fields.string(item, f.field("invalid") + "[\(i)]")
                guard let v = profile.maskCode(text) else {
                    let what = Int(text) != nil ? "is outside" : "is not one of"
                    throw SpecError(f.field("invalid") + "[\(i)]", "'\(Fields.clip(text))' \(what) the \(profile.id) mask's \(profile.maskVocabulary)")
                }
                if !codes.contains(v) { codes.append(v) }
            }
            mask.invalid = codes.sorted()
        }
        if let node = f.node("filters") { mask.filters = try parseFilters(node, field: f.field("filters")) }
        return mask
    }

    /// `filters: [[opening, 2], [dilation, 3]]`: ordered [operation, radius] pairs.
    static func parseFilters(_ node: Node, field: String) throws -> MaskFilters {
        let names = MorphologyOperation.allCases.map(\.rawValue)
        let expected = "expected [operation, radius] with operation one of \(names.joined(separator: ", ")), e.g. [opening, 2]"
        var steps: [MaskFilter] = []
        for (i, item) in try Fields.list(node, field).enumerated() {
            let here = field + "[\(i)]"
            guard case .sequence(let pair) = item, pair.count == 2 else {
                throw SpecError(here, "\(expected), got \(Fields.kind(item))")
            }
            let name = try Fields.string(pair[0], here + "[0]")
            guard let operation = MorphologyOperation(rawValue: name.lowercased()) else {
                throw SpecError(here + "[0]", "unknown operation '\(Fields.clip(name))'; expected one of \(names.joined(separator: ", "))")
            }
            let radius = try Fields.int(pair[1], here + "[1]")
            guard (0...MaskFilter.maxRadius).contains(radius) else {
                throw SpecError(here + "[1]", "radius \(radius) is outside 0...\(MaskFilter.maxRadius) (target pixels)")
            }
            steps.append(try MaskFilter(operation, radius: radius))
        }
        let filters = MaskFilters(steps)
        guard filters.halo <= MaskFilters.maxHalo else {
            throw SpecError(field, "the filters reach \(filters.halo) pixels (radii summed, opening and closing twice); at most \(MaskFilters.maxHalo)")
        }
        return filters
    }

    static func parseCompression(_ n: Node) throws -> CompressionSpec {
        let codecNames = CompressionCodec.allCases.map(\.rawValue).joined(separator: ", ")
        func codec(_ raw: String, _ field: String) throws -> CompressionCodec {
            switch raw.lowercased() {
            case "blosc", "blosc-zstd", "blosc_zstd": return .bloscZstd
            case "zstd": return .zstd
            default: throw SpecError(field, "unknown codec '\(Fields.clip(raw))'; expected one of \(codecNames)")
            }
        }
        var spec: CompressionSpec
        if case .mapping = n {
            let f = try Fields(n, path: "compression")
            try f.requireOnly(["codec", "level"])
            let c = try f.string("codec").map { try codec($0, f.field("codec")) } ?? .bloscZstd
            spec = CompressionSpec(codec: c, level: c == .zstd ? 3 : 5)
            if let level = try f.int("level") { spec.level = level }
        } else {
            let c = try codec(try Fields.string(n, "compression"), "compression")
            spec = CompressionSpec(codec: c, level: c == .zstd ? 3 : 5)
        }
        let range = spec.codec == .zstd ? 1...22 : 1...9
        guard range.contains(spec.level) else {
            throw SpecError("compression.level", "must be within \(range.lowerBound)...\(range.upperBound) for \(spec.codec.rawValue), got \(spec.level)")
        }
        return spec
    }
}
