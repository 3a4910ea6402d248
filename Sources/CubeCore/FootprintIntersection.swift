/// Planar polygon intersection in lon/lat degrees. Two regions meet when a boundary edge of one
/// crosses or touches a boundary edge of the other, or when one lies wholly inside the other
/// (then any vertex of it is inside the other). Holes take part through even-odd point tests
/// and their edges, so a region that sits in a hole does not count as meeting.
extension LonLatFootprint {
    public func intersects(_ other: LonLatFootprint) -> Bool {
        guard let a = bbox, let b = other.bbox, a.intersects(b) else { return false }
        for p in polygons {
            for q in other.polygons where p.intersects(q) { return true }
        }
        return false
    }
}

extension LonLatPolygon {
    public func intersects(_ other: LonLatPolygon) -> Bool {
        for r in rings where r.count >= 2 {
            for s in other.rings where s.count >= 2 {
                if ringsCross(r, s) { return true }
            }
        }
        if let v = other.exterior.first, contains(v) { return true }
        if let v = exterior.first, other.contains(v) { return true }
        return false
    }

    /// Even-odd rule over all rings, so points in holes are outside.
    public func contains(_ p: LonLat) -> Bool {
        var inside = false
        for ring in rings where ring.count >= 3 {
            var j = ring.count - 1
            for i in 0..<ring.count {
                let a = ring[i], b = ring[j]
                if (a.lat > p.lat) != (b.lat > p.lat) {
                    let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon
                    if p.lon < x { inside.toggle() }
                }
                j = i
            }
        }
        return inside
    }

    /// Area-weighted centroid of the exterior minus holes (shoelace formula); the vertex mean
    /// when the polygon is degenerate.
    var centroidAndArea: (LonLat, Double)? {
        var area = 0.0, cx = 0.0, cy = 0.0
        for (k, ring) in rings.enumerated() where ring.count >= 3 {
            var a = 0.0, x = 0.0, y = 0.0
            for i in 0..<ring.count {
                let p = ring[i], q = ring[(i + 1) % ring.count]
                let cross = p.lon * q.lat - q.lon * p.lat
                a += cross
                x += (p.lon + q.lon) * cross
                y += (p.lat + q.lat) * cross
            }
            // Exterior counts positive, holes negative, whatever their winding.
            let sign: Double = (k == 0) == (a >= 0) ? 1 : -1
            area += sign * a / 2
            cx += sign * x / 6
            cy += sign * y / 6
        }
        if abs(area) > 1e-15 { return (LonLat(cx / area, cy / area), abs(area)) }
        let pts = exterior
        guard !pts.isEmpty else { return nil }
        let n = Double(pts.count)
        return (LonLat(pts.map(\.lon).reduce(0, +) / n, pts.map(\.lat).reduce(0, +) / n), 0)
    }
}

/// Whether any edge of ring `r` meets any edge of ring `s` (closing edges included).
private func ringsCross(_ r: [LonLat], _ s: [LonLat]) -> Bool {
    for i in 0..<r.count {
        let a = r[i], b = r[(i + 1) % r.count]
        let (minX, maxX) = (min(a.lon, b.lon), max(a.lon, b.lon))
        let (minY, maxY) = (min(a.lat, b.lat), max(a.lat, b.lat))
        for j in 0..<s.count {
            let c = s[j], d = s[(j + 1) % s.count]
            if max(c.lon, d.lon) < minX || min(c.lon, d.lon) > maxX || max(c.lat, d.lat) < minY || min(c.lat, d.lat) > maxY {
                continue
            }
            if segmentsMeet(a, b, c, d) { return true }
        }
    }
    return false
}

private func orient(_ a: LonLat, _ b: LonLat, _ c: LonLat) -> Double {
    (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon)
}

private func onSegment(_ a: LonLat, _ b: LonLat, _ p: LonLat) -> Bool {
    min(a.lon, b.lon) <= p.lon && p.lon <= max(a.lon, b.lon) && min(a.lat, b.lat) <= p.lat && p.lat <= max(a.lat, b.lat)
}

/// Segments ab and cd cross or touch (collinear overlaps included).
private func segmentsMeet(_ a: LonLat, _ b: LonLat, _ c: LonLat, _ d: LonLat) -> Bool {
    let o1 = orient(a, b, c), o2 = orient(a, b, d), o3 = orient(c, d, a), o4 = orient(c, d, b)
    if ((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0)) { return true }
    if o1 == 0 && onSegment(a, b, c) { return true }
    if o2 == 0 && onSegment(a, b, d) { return true }
    if o3 == 0 && onSegment(c, d, a) { return true }
    if o4 == 0 && onSegment(c, d, b) { return true }
    return false
}

extension LonLatFootprint {
    /// Area-weighted centroid over all polygons. Parts split at the antimeridian (some west of
    /// -90°, some east of 90°) are joined first by shifting the western ones by +360°, and the
    /// result is brought back into [-180, 180).
    public var centroid: LonLat? {
        let lons = polygons.flatMap { $0.exterior.map(\.lon) }
        let straddles = (lons.contains { $0 < -90 }) && (lons.contains { $0 > 90 }) && !(lons.contains { abs($0) < 90 })
        var sumX = 0.0, sumY = 0.0, sumA = 0.0
        var fallback: [LonLat] = []
        for poly in polygons {
            let shifted = straddles
                ? LonLatPolygon(rings: poly.rings.map { $0.map { LonLat($0.lon < 0 ? $0.lon + 360 : $0.lon, $0.lat) } })
                : poly
            guard let (c, a) = shifted.centroidAndArea else { continue }
            fallback.append(c)
            sumX += c.lon * a; sumY += c.lat * a; sumA += a
        }
        var result: LonLat
        if sumA > 0 {
            result = LonLat(sumX / sumA, sumY / sumA)
        } else if !fallback.isEmpty {
            let n = Double(fallback.count)
            result = LonLat(fallback.map(\.lon).reduce(0, +) / n, fallback.map(\.lat).reduce(0, +) / n)
        } else {
            return nil
        }
        if result.lon >= 180 { result.lon -= 360 }
        return result
    }
}
