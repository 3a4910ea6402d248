import CubeCore
import Foundation
import JSON

/// Turns one STAC item (Earth Search v1 `sentinel-2-l2a` and alike) into a `StacItem`.
/// Required: id, geometry (Polygon/MultiPolygon), properties.datetime, assets with hrefs.
/// Optional fields may be absent or null; present with a wrong type, they reject the item
/// with a reason rather than being guessed at.
public struct StacItemParser: Sendable {
    public var hrefPolicy: HrefPolicy

    public init(hrefPolicy: HrefPolicy) { self.hrefPolicy = hrefPolicy }

    public func parse(_ json: JSONValue) -> Result<StacItem, ItemProblem> {
        do { return .success(try parseItem(json)) } catch let p as ItemProblem { return .failure(p) } catch {
            return .failure(.invalid("item", "\(error)"))
        }
    }

    /// The id to report for a rejected item, if it has a usable one.
    public static func idForLog(_ json: JSONValue) -> String? { json["id"]?.stringValue }

    private func parseItem(_ json: JSONValue) throws -> StacItem {
        guard json.objectValue != nil else { throw ItemProblem.invalid("item", "is not a JSON object") }
        if let type = try optString(json, "type", "type"), type != "Feature" {
            throw ItemProblem.invalid("type", "is \(type), not Feature")
        }
        guard let id = try optString(json, "id", "id"), !id.isEmpty else { throw ItemProblem.missing("id") }
        guard let geometryJSON = json["geometry"], !geometryJSON.isNull else { throw ItemProblem.missing("geometry") }
        let footprint = try GeoJSONGeometry.footprint(geometryJSON).get()
        guard let props = json["properties"], !props.isNull else { throw ItemProblem.missing("properties") }
        guard props.objectValue != nil else { throw ItemProblem.invalid("properties", "is not an object") }

        let datetime: Date
        if let text = try optString(props, "datetime", "properties.datetime") {
            guard let d = RFC3339.parse(text) else { throw ItemProblem.invalid("properties.datetime", "is not RFC 3339: \(text.prefix(40))") }
            datetime = d
        } else {
            throw ItemProblem.missing("properties.datetime")
        }

        var cloud: Double?
        if let c = try optNumber(props, "eo:cloud_cover", "properties.eo:cloud_cover") {
            guard (0...100).contains(c) else { throw ItemProblem.invalid("properties.eo:cloud_cover", "is \(c), outside 0...100") }
            cloud = c
        }
        let boaApplied = try optBool(props, "earthsearch:boa_offset_applied", "properties.earthsearch:boa_offset_applied")
        let itemProj = try projCode(props, "properties")

        guard let assetsJSON = json["assets"], !assetsJSON.isNull else { throw ItemProblem.missing("assets") }
        guard let assetObjects = assetsJSON.objectValue else { throw ItemProblem.invalid("assets", "is not an object") }
        var assets: [String: StacAsset] = [:]
        for key in assetObjects.keys.sorted() {
            assets[key] = try parseAsset(key, assetObjects[key] ?? .null, itemProj: itemProj, boaApplied: boaApplied == true)
        }

        return StacItem(
            id: id,
            collection: try optString(json, "collection", "collection"),
            bbox: try parseBBox(json) ?? footprint.bbox ?? LonLatBBox(west: 0, south: 0, east: 0, north: 0),
            footprint: footprint,
            datetime: datetime,
            created: try optDate(props, "created"),
            updated: try optDate(props, "updated"),
            cloudCover: cloud,
            projCode: itemProj,
            processingBaseline: try optString(props, "s2:processing_baseline", "properties.s2:processing_baseline"),
            boaOffsetApplied: boaApplied,
            gridCode: try gridCode(props),
            assets: assets)
    }

    private func parseAsset(_ key: String, _ json: JSONValue, itemProj: String?, boaApplied: Bool) throws -> StacAsset {
        let field = "assets.\(key)"
        guard json.objectValue != nil else { throw ItemProblem.invalid(field, "is not an object") }
        guard let rawHref = try optString(json, "href", "\(field).href") else { throw ItemProblem.missing("\(field).href") }
        guard let href = hrefPolicy.resolve(rawHref) else { throw ItemProblem.forbiddenHref(asset: key, href: rawHref) }

        var roles: [String] = []
        if let r = json["roles"], !r.isNull {
            guard let list = r.arrayValue?.compactMap(\.stringValue), list.count == r.arrayValue?.count else {
                throw ItemProblem.invalid("\(field).roles", "is not a list of strings")
            }
            roles = list
        }
        var shape: [Int]?
        if let s = json["proj:shape"], !s.isNull {
            guard let list = s.arrayValue?.compactMap(\.intValue), list.count == 2, list.count == s.arrayValue?.count,
                  list.allSatisfy({ $0 > 0 })
            else { throw ItemProblem.invalid("\(field).proj:shape", "is not [rows, columns]") }
            shape = list
        }
        var transform: [Double]?
        if let t = json["proj:transform"], !t.isNull {
            guard let list = t.arrayValue?.compactMap(\.doubleValue), list.count == t.arrayValue?.count,
                  list.count == 6 || list.count == 9, list.allSatisfy(\.isFinite)
            else { throw ItemProblem.invalid("\(field).proj:transform", "is not 6 or 9 numbers") }
            if list.count == 9, list[6] != 0 || list[7] != 0 || list[8] != 1 {
                throw ItemProblem.invalid("\(field).proj:transform", "last row is not [0, 0, 1]")
            }
            transform = Array(list.prefix(6))
        }
        var bands: [RasterBand] = []
        if let b = json["raster:bands"], !b.isNull {
            guard let list = b.arrayValue else { throw ItemProblem.invalid("\(field).raster:bands", "is not a list") }
            for (i, entry) in list.enumerated() {
                bands.append(try parseBand(entry, "\(field).raster:bands[\(i)]"))
            }
        }
        return StacAsset(
            href: href,
            type: try optString(json, "type", "\(field).type"),
            roles: roles,
            shape: shape,
            transform: transform,
            projCode: try projCode(json, field) ?? itemProj,
            bands: bands,
            harmonisationShiftDN: try harmonisationShift(bands.first, boaApplied: boaApplied, field: field),
            bitfields: try bitfields(json, field))
    }

    /// `classification:bitfields`: name, offset and length of each field (classes are not needed).
    private func bitfields(_ json: JSONValue, _ field: String) throws -> [BitField] {
        guard let v = json["classification:bitfields"], !v.isNull else { return [] }
        guard let list = v.arrayValue else { throw ItemProblem.invalid("\(field).classification:bitfields", "is not a list") }
        return try list.enumerated().map { i, entry in
            let at = "\(field).classification:bitfields[\(i)]"
            guard let name = entry["name"]?.stringValue, let offset = entry["offset"]?.intValue,
                  let length = entry["length"]?.intValue, offset >= 0, length >= 1, offset + length <= 64 else {
                throw ItemProblem.invalid(at, "needs a name, an offset ≥ 0 and a length ≥ 1")
            }
            return BitField(name: name, offset: offset, length: length)
        }
    }

    private func parseBand(_ json: JSONValue, _ field: String) throws -> RasterBand {
        guard json.objectValue != nil else { throw ItemProblem.invalid(field, "is not an object") }
        var nodata: Double?
        switch json["nodata"] {
        case nil, .null?: nodata = nil
        case .int(let n)?: nodata = Double(n)
        case .double(let n)?: nodata = n
        case .string(let s)?:
            switch s.lowercased() {
            case "nan": nodata = .nan
            case "inf", "+inf": nodata = .infinity
            case "-inf": nodata = -.infinity
            default: throw ItemProblem.invalid("\(field).nodata", "is the string \(s.prefix(20))")
            }
        default: throw ItemProblem.invalid("\(field).nodata", "is not a number")
        }
        return RasterBand(nodata: nodata,
                          scale: try optNumber(json, "scale", "\(field).scale"),
                          offset: try optNumber(json, "offset", "\(field).offset"),
                          dataType: try optString(json, "data_type", "\(field).data_type"))
    }

    /// `round(offset / scale)` in DN; 0 when the offset was already applied or is not declared.
    private func harmonisationShift(_ band: RasterBand?, boaApplied: Bool, field: String) throws -> Int {
        guard !boaApplied, let offset = band?.offset, offset != 0 else { return 0 }
        let scale = band?.scale ?? 1
        guard scale != 0, scale.isFinite else { throw ItemProblem.invalid("\(field).raster:bands[0].scale", "is 0 with a non-zero offset") }
        let shift = (offset / scale).rounded()
        // Beyond the uint16 DN range the composite refuses the shift and would fail the whole job;
        // refuse it here, so only this item is skipped (with its reason).
        guard abs(shift) <= 65535 else {
            throw ItemProblem.invalid("\(field).raster:bands[0].offset", "gives an absurd DN shift (outside -65535...65535)")
        }
        return Int(shift)
    }

    /// `proj:code` ("EPSG:32632") or `proj:epsg` (32632), whichever is present.
    private func projCode(_ json: JSONValue, _ field: String) throws -> String? {
        if let code = try optString(json, "proj:code", "\(field).proj:code") { return code }
        if let v = json["proj:epsg"], !v.isNull {
            guard let n = v.intValue, n > 0 else { throw ItemProblem.invalid("\(field).proj:epsg", "is not a positive integer") }
            return "EPSG:\(n)"
        }
        return nil
    }

    /// `MGRS-32TNS` from `grid:code`, or built from `mgrs:utm_zone` + `mgrs:latitude_band` +
    /// `mgrs:grid_square`. The zone is written without leading zeros so both forms agree.
    private func gridCode(_ props: JSONValue) throws -> String? {
        if let code = try optString(props, "grid:code", "properties.grid:code") {
            let upper = code.uppercased()
            guard upper.hasPrefix("MGRS-") else { return code }
            let tile = upper.dropFirst(5)
            let digits = tile.prefix { $0.isNumber }
            guard let zone = Int(digits) else { return upper }
            return "MGRS-\(zone)\(tile.dropFirst(digits.count))"
        }
        let zoneValue = props["mgrs:utm_zone"]
        guard let zoneValue, !zoneValue.isNull else { return nil }
        guard let zone = zoneValue.intValue, (1...60).contains(zone) else {
            throw ItemProblem.invalid("properties.mgrs:utm_zone", "is not an integer 1...60")
        }
        guard let band = try optString(props, "mgrs:latitude_band", "properties.mgrs:latitude_band"),
              let square = try optString(props, "mgrs:grid_square", "properties.mgrs:grid_square")
        else { return nil }
        return "MGRS-\(zone)\(band.uppercased())\(square.uppercased())"
    }

    private func parseBBox(_ json: JSONValue) throws -> LonLatBBox? {
        guard let v = json["bbox"], !v.isNull else { return nil }
        guard let list = v.arrayValue?.compactMap(\.doubleValue), list.count == v.arrayValue?.count,
              list.count == 4 || list.count == 6
        else { throw ItemProblem.invalid("bbox", "is not 4 or 6 numbers") }
        let (w, s, e, n) = list.count == 4 ? (list[0], list[1], list[2], list[3]) : (list[0], list[1], list[3], list[4])
        return LonLatBBox(west: w, south: s, east: e, north: n)
    }

    private func optDate(_ props: JSONValue, _ key: String) throws -> Date? {
        guard let text = try optString(props, key, "properties.\(key)") else { return nil }
        guard let d = RFC3339.parse(text) else { throw ItemProblem.invalid("properties.\(key)", "is not RFC 3339: \(text.prefix(40))") }
        return d
    }

    private func optString(_ json: JSONValue, _ key: String, _ field: String) throws -> String? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw ItemProblem.invalid(field, "is not a string") }
        return s
    }

    private func optNumber(_ json: JSONValue, _ key: String, _ field: String) throws -> Double? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let n = v.doubleValue else { throw ItemProblem.invalid(field, "is not a number") }
        return n
    }

    private func optBool(_ json: JSONValue, _ key: String, _ field: String) throws -> Bool? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw ItemProblem.invalid(field, "is not true or false") }
        return b
    }
}
