import Composite
import CubeCore
import CubeGrid
import CubePlan
import CubeSpec
import CubeStore
import Foundation
import JSON

/// The cube described in STAC, stored with it (`_cube/stac/`): a Collection with the datacube
/// extension (dimensions, variables) and the Zarr store as an asset with its open options, and
/// one Item per time bin. Catalogs and pystac read them as they are; hrefs are relative, so the
/// description stays right wherever the store is copied.
public enum StacDescription {
    public static let collectionKey = StoreKeys.stacCollection
    public static func itemKey(_ bin: TimeBin) -> String { StoreKeys.stacItem(bin.label) }

    static let stacVersion = "1.1.0"
    static let datacube = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
    static let projection = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
    static let xarrayAssets = "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"
    /// From the collection and items (in `_cube/stac/` and `_cube/stac/items/`) to the store root.
    static let storeFromCollection = "../../"
    static let storeFromItem = "../../../"

    /// Writes the items of `bins` (default: every published one), then the collection of the
    /// first `published` bins: an item exists before the collection links it.
    public static func write(spec: CubeSpec, layout: CubeLayout, store: any Store, published: Int,
                             items bins: [TimeBin]? = nil, notes: [Int: JSONValue] = [:]) throws {
        for bin in bins ?? Array(layout.plan.bins.prefix(published)) {
            var feature = try item(spec: spec, layout: layout, bin: bin)
            if let note = notes[bin.index], case .object(var f) = feature, case .object(var p)? = f["properties"] {
                // What an update changed in this bin (jobs rebuilt, scenes added/withdrawn).
                p["updated"] = .string(iso(Date()))
                p["cube_update"] = note
                f["properties"] = .object(p)
                feature = .object(f)
            }
            try store.put(itemKey(bin), feature.data())
        }
        try store.put(collectionKey, collection(spec: spec, layout: layout, published: published).data())
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    /// The last instant of a bin ([start, end) in the cube; STAC intervals are closed).
    static func lastInstant(_ bin: TimeBin) -> Date { bin.end.addingTimeInterval(-1) }

    static func footprint(_ layout: CubeLayout) throws -> LonLatFootprint {
        try layout.grid.lonLatFootprint(densify: 16)
    }

    /// ISO 8601 duration of the bin step.
    static func duration(_ step: TimeStep) -> String {
        switch step {
        case .months(let n): return "P\(n)M"
        case .days(let n): return "P\(n)D"
        }
    }

    /// `cube:dimensions` for the bins `bins`.
    static func dimensions(spec: CubeSpec, layout: CubeLayout, bins: [TimeBin]) -> JSONValue {
        let grid = layout.grid
        var system: JSONValue = .string(grid.crs.reference.projJSON)
        if let epsg = grid.crs.epsg { system = .int(Int64(epsg)) }
        else if let parsed = try? JSONValue.parse(Data(grid.crs.reference.projJSON.utf8)) { system = parsed }
        var time: [String: JSONValue] = [
            "type": "temporal",
            "extent": [.string(iso(bins.first!.start)), .string(iso(lastInstant(bins.last!)))],
            "description": "start of each time bin; a bin holds [start, start + step)",
        ]
        if bins.count > 1 { time["step"] = .string(duration(spec.time.step)) }
        return [
            CubeLayout.timeArray: .object(time),
            layout.xName: ["type": "spatial", "axis": "x", "extent": [.double(grid.left), .double(grid.right)],
                           "step": .double(grid.resolutionX), "reference_system": system],
            layout.yName: ["type": "spatial", "axis": "y", "extent": [.double(grid.bottom), .double(grid.top)],
                           "step": .double(-grid.resolutionY), "reference_system": system],
        ]
    }

    /// `cube:variables`: the data arrays, and the auxiliary time bounds and grid mapping.
    static func variables(layout: CubeLayout) -> JSONValue {
        var out: [String: JSONValue] = [:]
        let dims: JSONValue = .strings([CubeLayout.timeArray, layout.yName, layout.xName])
        for output in layout.outputs {
            var v: [String: JSONValue] = ["type": "data", "dimensions": dims, "description": .string(output.longName),
                                          "data_type": .string(output.type.rawValue),
                                          "unit": .string(output.units)]
            switch output.type {
            case .float32: v["nodata"] = "nan"
            case .int32: v["nodata"] = .int(Int64(OutputType.int32Fill))
            case .uint16: v["nodata"] = 0
            }
            out[output.name] = .object(v)
        }
        for name in [CubeLayout.countArray] + layout.sensorCounts {
            out[name] = ["type": "data", "dimensions": dims, "data_type": "uint16", "unit": "1",
                         "description": "number of valid observations (solar days) in the time bin"]
        }
        out[CubeLayout.timeBoundsArray] = ["type": "auxiliary", "dimensions": [.string(CubeLayout.timeArray), "nv"],
                                           "description": "time bin bounds [start, end), days since 1970-01-01"]
        out[CubeLayout.gridMappingArray] = ["type": "auxiliary", "dimensions": [],
                                            "description": "CF grid mapping (CRS WKT and GeoTransform)"]
        return .object(out)
    }

    /// The Zarr store as an asset, with how xarray opens it and where the grid lies.
    static func zarrAsset(spec: CubeSpec, layout: CubeLayout, href: String) -> JSONValue {
        var open: [String: JSONValue] = ["engine": "zarr", "consolidated": true]
        if layout.hasPyramid { open["group"] = .string(layout.levelGroup(0)) }
        var asset: [String: JSONValue] = [
            "href": .string(href),
            "type": "application/vnd.zarr",
            "title": .string("\(spec.name) (Zarr v\(layout.format == .v3 ? 3 : 2))"),
            "roles": ["data", "zarr"],
            "xarray:open_kwargs": .object(open),
            "proj:shape": .ints([layout.grid.height, layout.grid.width]),
            "proj:transform": .array(layout.grid.geoTransform.array.prefix(6).map { .double($0) }),
        ]
        if let epsg = layout.grid.crs.epsg { asset["proj:code"] = .string("EPSG:\(epsg)") }
        else { asset["proj:wkt2"] = .string(layout.grid.crs.reference.wkt2) }
        return .object(asset)
    }

    /// Where the scenes came from.
    static func sourceLinks(_ spec: CubeSpec) -> [JSONValue] {
        guard case .api(let url, let collections, _) = spec.stac else { return [] }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        return collections.map { c in
            ["rel": "derived_from", "href": .string("\(base)/collections/\(c)"), "type": "application/json",
             "title": .string("source collection \(c)")]
        }
    }

    public static func collection(spec: CubeSpec, layout: CubeLayout, published: Int) throws -> JSONValue {
        let bins = Array(layout.plan.bins.prefix(max(1, published)))
        let fp = try footprint(layout)
        var links: [JSONValue] = [
            ["rel": "root", "href": "./collection.json", "type": "application/json"],
            ["rel": "self", "href": "./collection.json", "type": "application/json"],
        ]
        links += bins.map { bin in
            ["rel": "item", "href": .string("./items/\(bin.label).json"), "type": "application/geo+json"]
        }
        links += sourceLinks(spec)
        return [
            "type": "Collection",
            "stac_version": .string(stacVersion),
            "stac_extensions": [.string(datacube), .string(projection), .string(xarrayAssets)],
            "id": .string(spec.name),
            "title": .string(spec.name),
            "description": .string("Analysis-ready \(spec.time.step) composites (\(spec.composite.joined(separator: ", "))) of \(spec.sensors.map(\.profile.title).joined(separator: " and ")) surface reflectance, cloud and invalid pixels masked, on one grid, as a Zarr datacube built by cube."),
            "license": "other",
            "extent": [
                "spatial": ["bbox": [.array((fp.bbox?.array ?? []).map { .double($0) })]],
                "temporal": ["interval": [[.string(iso(bins.first!.start)), .string(iso(lastInstant(bins.last!)))]]],
            ],
            "cube:dimensions": dimensions(spec: spec, layout: layout, bins: bins),
            "cube:variables": variables(layout: layout),
            "assets": ["zarr": zarrAsset(spec: spec, layout: layout, href: storeFromCollection)],
            // Not `cube:`: that prefix belongs to the datacube extension, whose schema refuses others.
            "summaries": ["composite": .strings(spec.composite)],
            "links": .array(links),
        ]
    }

    public static func item(spec: CubeSpec, layout: CubeLayout, bin: TimeBin) throws -> JSONValue {
        let fp = try footprint(layout)
        let ring: JSONValue = .array(fp.ring.map { [.double($0.lon), .double($0.lat)] })
        var asset = zarrAsset(spec: spec, layout: layout, href: storeFromItem).objectValue!
        asset["description"] = .string("the whole cube; this item's bin is time index \(bin.index) (\(bin.label))")
        return [
            "type": "Feature",
            "stac_version": .string(stacVersion),
            "stac_extensions": [.string(datacube), .string(projection), .string(xarrayAssets)],
            "id": .string("\(spec.name)-\(bin.label)"),
            "collection": .string(spec.name),
            "geometry": ["type": "Polygon", "coordinates": [ring]],
            "bbox": .array((fp.bbox?.array ?? []).map { .double($0) }),
            "properties": [
                "datetime": .null,
                "start_datetime": .string(iso(bin.start)),
                "end_datetime": .string(iso(lastInstant(bin))),
                "cube:dimensions": dimensions(spec: spec, layout: layout, bins: [bin]),
                "cube:variables": variables(layout: layout),
            ],
            "assets": ["zarr": .object(asset)],
            "links": [
                ["rel": "collection", "href": "../collection.json", "type": "application/json"],
                ["rel": "parent", "href": "../collection.json", "type": "application/json"],
                ["rel": "root", "href": "../collection.json", "type": "application/json"],
                ["rel": "self", "href": .string("./\(bin.label).json"), "type": "application/geo+json"],
            ],
        ]
    }
}
