import CubeCore
import JSON
/// Reads a GeoJSON Polygon or MultiPolygon in lon/lat.
enum GeoJSONGeometry {
    static func footprint(_ value: JSONValue) -> Result<LonLatFootprint, ItemProblem> {
        guard let type = value["type"]?.stringValue else { return .failure(.invalid("geometry", "has no type")) }
        guard let coords = value["coordinates"]?.arrayValue else {
            return .failure(.invalid("geometry", "has no coordinates array"))
        }
        switch type {
        case "Polygon":
            return polygon(coords).map { LonLatFootprint($0) }
        case "MultiPolygon":
            var polys: [LonLatPolygon] = []
            for p in coords {
                guard let rings = p.arrayValue else { return .failure(.invalid("geometry", "MultiPolygon part is not an array")) }
                switch polygon(rings) {
                case .success(let poly): polys.append(poly)
                case .failure(let e): return .failure(e)
                }
            }
            guard !polys.isEmpty else { return .failure(.invalid("geometry", "MultiPolygon is empty")) }
            return .success(LonLatFootprint(polys))
        default:
            return .failure(.invalid("geometry", "type \(type) is not Polygon or MultiPolygon"))
        }
    }

    private static func polygon(_ rings: [JSONValue]) -> Result<LonLatPolygon, ItemProblem> {
        var out: [[LonLat]] = []
        for r in rings {
            guard let pts = r.arrayValue else { return .failure(.invalid("geometry", "ring is not an array")) }
            var ring: [LonLat] = []
            ring.reserveCapacity(pts.count)
            for p in pts {
                guard let xy = p.arrayValue, xy.count >= 2, let x = xy[0].doubleValue, let y = xy[1].doubleValue,
                      x.isFinite, y.isFinite, abs(x) <= 540, abs(y) <= 90
                else { return .failure(.invalid("geometry", "has a position that is not [lon, lat] in degrees")) }
                ring.append(LonLat(x, y))
            }
            guard ring.count >= 3 else { return .failure(.invalid("geometry", "ring has fewer than 3 positions")) }
            out.append(ring)
        }
        guard !out.isEmpty else { return .failure(.invalid("geometry", "polygon has no rings")) }
        return .success(LonLatPolygon(rings: out))
    }
}
