import JSON
/// A point in degrees, x = longitude, y = latitude (GeoJSON / GIS axis order).
public struct LonLat: Sendable, Equatable, Hashable {
    public var lon: Double
    public var lat: Double
    public init(_ lon: Double, _ lat: Double) {
        self.lon = lon
        self.lat = lat
    }
}

/// A lon/lat rectangle (west, south, east, north); west > east is not supported (no
/// antimeridian-crossing boxes).
public struct LonLatBBox: Sendable, Equatable {
    public var west: Double, south: Double, east: Double, north: Double

    public init(west: Double, south: Double, east: Double, north: Double) {
        self.west = west
        self.south = south
        self.east = east
        self.north = north
    }

    public func intersects(_ o: LonLatBBox) -> Bool {
        west <= o.east && o.west <= east && south <= o.north && o.south <= north
    }

    public var polygon: LonLatPolygon {
        LonLatPolygon(exterior: [LonLat(west, south), LonLat(east, south), LonLat(east, north),
                                 LonLat(west, north), LonLat(west, south)])
    }

    /// `[west, south, east, north]` as STAC wants it.
    public var array: [Double] { [west, south, east, north] }
}

/// One polygon: an exterior ring and optional holes. Rings may be open or closed.
public struct LonLatPolygon: Sendable, Equatable {
    public var rings: [[LonLat]]

    public init(exterior: [LonLat], holes: [[LonLat]] = []) {
        rings = [exterior] + holes
    }

    public init(rings: [[LonLat]]) { self.rings = rings }

    public var exterior: [LonLat] { rings.first ?? [] }
}

/// A footprint: one or more polygons (a GeoJSON Polygon or MultiPolygon).
public struct LonLatFootprint: Sendable, Equatable {
    public var polygons: [LonLatPolygon]

    public init(_ polygons: [LonLatPolygon]) { self.polygons = polygons }
    public init(_ polygon: LonLatPolygon) { self.polygons = [polygon] }
    public init(_ bbox: LonLatBBox) { self.polygons = [bbox.polygon] }

    public var bbox: LonLatBBox? {
        var w = Double.infinity, s = Double.infinity, e = -Double.infinity, n = -Double.infinity
        for p in polygons.flatMap({ $0.exterior }) {
            w = min(w, p.lon); e = max(e, p.lon); s = min(s, p.lat); n = max(n, p.lat)
        }
        return w <= e && s <= n ? LonLatBBox(west: w, south: s, east: e, north: n) : nil
    }

    /// The first polygon's exterior ring: the whole outline of a chunk or grid footprint
    /// (`GeoBox.lonLatFootprint`, one closed ring).
    public var ring: [LonLat] { polygons.first?.exterior ?? [] }

    // The bounding box's edges (NaN when empty), for the box tests of the plan and job selection.
    public var west: Double { bbox?.west ?? .nan }
    public var south: Double { bbox?.south ?? .nan }
    public var east: Double { bbox?.east ?? .nan }
    public var north: Double { bbox?.north ?? .nan }

    /// GeoJSON geometry for an `intersects` query.
    public var geoJSON: JSONValue {
        func ring(_ r: [LonLat]) -> JSONValue {
            var pts = r
            if let f = r.first, r.last != f { pts.append(f) }
            return .array(pts.map { .array([.number($0.lon), .number($0.lat)]) })
        }
        func poly(_ p: LonLatPolygon) -> JSONValue { .array(p.rings.map(ring)) }
        if polygons.count == 1 {
            return .object(["type": .string("Polygon"), "coordinates": poly(polygons[0])])
        }
        return .object(["type": .string("MultiPolygon"), "coordinates": .array(polygons.map(poly))])
    }
}
