import CGDAL
import Foundation

/// A coordinate reference system (OGRSpatialReference) with x = easting/longitude,
/// y = northing/latitude whatever the authority's axis order.
///
/// `@unchecked`: an OGRSpatialReference is not thread safe, even for reading (GDAL's rule: no
/// object is unless documented, gdal#4906; exports fill caches). Every call on the handle after
/// `init` goes through `withHandle`, under one process-wide lock: they are rare and short
/// (identification, WKT export, creating a transformation), never per pixel.
public final class SpatialReference: @unchecked Sendable {
    private let handle: OGRSpatialReferenceH
    private static let lock = NSLock()

    /// `body` with the handle, under the lock (not re-entrant: `body` must not call back).
    func withHandle<R>(_ body: (OGRSpatialReferenceH) throws -> R) rethrows -> R {
        try Self.lock.withLock { try body(handle) }
    }

    /// `body` with both handles under the lock (the same object twice is fine).
    static func withHandles<R>(_ a: SpatialReference, _ b: SpatialReference,
                               _ body: (OGRSpatialReferenceH, OGRSpatialReferenceH) throws -> R) rethrows -> R {
        try lock.withLock { try body(a.handle, b.handle) }
    }

    /// Accepts what GDAL's `SetFromUserInput` does: "EPSG:32632", "32632", WKT, PROJ strings.
    public init(_ definition: String) throws {
        GDAL.initialize()
        let trimmed = definition.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw GDALError("empty CRS definition") }
        // A bare number is an EPSG code.
        let input = Int(trimmed) != nil ? "EPSG:\(trimmed)" : trimmed
        // Refuse things SetFromUserInput would go and read (files, URLs): a spec names a CRS.
        if input.hasPrefix("/") || input.hasPrefix("http") || input.hasPrefix("file:") {
            throw GDALError("'\(definition)' is not a CRS definition")
        }
        guard let h = OSRNewSpatialReference(nil) else { throw GDALError("out of memory") }
        let err = OSRSetFromUserInput(h, input)
        if err != OGRERR_NONE {
            OSRDestroySpatialReference(h)
            throw GDALError.last("unknown CRS '\(definition)'")
        }
        OSRSetAxisMappingStrategy(h, OAMS_TRADITIONAL_GIS_ORDER)
        handle = h
    }

    public static func epsg(_ code: Int) throws -> SpatialReference {
        try SpatialReference("EPSG:\(code)")
    }

    public static let wgs84: SpatialReference = try! SpatialReference("EPSG:4326")

    deinit { OSRDestroySpatialReference(handle) }

    public var isGeographic: Bool { withHandle { OSRIsGeographic($0) != 0 } }
    public var isProjected: Bool { withHandle { OSRIsProjected($0) != 0 } }

    /// The EPSG code when the CRS is (or is identified as) an EPSG one.
    public var epsgCode: Int? {
        let probe = withHandle { OSRClone($0) }
        defer { OSRDestroySpatialReference(probe) }
        _ = OSRAutoIdentifyEPSG(probe)
        let isGeo = OSRIsGeographic(probe) != 0
        let target = isGeo ? "GEOGCS" : "PROJCS"
        guard let name = OSRGetAuthorityName(probe, target).map({ String(cString: $0) }),
              name.uppercased() == "EPSG",
              let code = OSRGetAuthorityCode(probe, target).map({ String(cString: $0) })
        else {
            if let name = OSRGetAuthorityName(probe, nil).map({ String(cString: $0) }),
               name.uppercased() == "EPSG",
               let code = OSRGetAuthorityCode(probe, nil).map({ String(cString: $0) }) {
                return Int(code)
            }
            return nil
        }
        return Int(code)
    }

    /// WKT1 (GDAL flavour): what CF `crs_wkt`/`spatial_ref` and GDAL 3.6 readers expect.
    public var wkt1: String { export(format: "WKT1_GDAL") }
    /// WKT2 (2019): lossless, preferred by PROJ-based readers.
    public var wkt2: String { export(format: "WKT2_2019") }

    public var projJSON: String {
        var out: UnsafeMutablePointer<CChar>?
        guard withHandle({ OSRExportToPROJJSON($0, &out, nil) }) == OGRERR_NONE, let out else { return "" }
        defer { VSIFree(out) }
        return String(cString: out)
    }

    public var name: String {
        withHandle { OSRGetName($0).map { String(cString: $0) } } ?? ""
    }

    /// Linear unit name for projected CRSs ("metre"), angular for geographic ("degree").
    public var unitName: String {
        withHandle { h in
            var name: UnsafeMutablePointer<CChar>?
            if OSRIsGeographic(h) != 0 {
                _ = OSRGetAngularUnits(h, &name)
            } else {
                _ = OSRGetLinearUnits(h, &name)
            }
            return name.map { String(cString: $0) } ?? ""
        }
    }

    /// The CRS's area of use in lon/lat degrees (west may exceed east across the antimeridian),
    /// when the definition carries one (EPSG codes do; PROJ strings do not).
    public var areaOfUse: (west: Double, south: Double, east: Double, north: Double)? {
        var w = 0.0, s = 0.0, e = 0.0, n = 0.0
        var name: UnsafePointer<CChar>?
        guard withHandle({ OSRGetAreaOfUse($0, &w, &s, &e, &n, &name) }) != 0, w != -1000 else { return nil }
        return (w, s, e, n)
    }

    public func isSame(_ other: SpatialReference) -> Bool {
        Self.withHandles(self, other) { OSRIsSame($0, $1) != 0 }
    }

    private func export(format: String) -> String {
        var out: UnsafeMutablePointer<CChar>?
        var options = ["FORMAT=\(format)"]
        let err = withHandle { h in withCStringArray(&options) { OSRExportToWktEx(h, &out, $0) } }
        guard err == OGRERR_NONE, let out else { return "" }
        defer { VSIFree(out) }
        return String(cString: out)
    }
}

/// Calls `body` with a NULL-terminated C string array (GDAL's CSL options).
func withCStringArray<R>(_ strings: inout [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    cStrings.append(nil)
    defer { cStrings.forEach { free($0) } }
    return cStrings.withUnsafeBufferPointer { buf in
        buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) { body($0) }
    }
}

/// Like `withCStringArray`, for GDAL functions that take `char **` (the utility option parsers).
func withMutableCStringArray<R>(_ strings: inout [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    cStrings.append(nil)
    defer { cStrings.forEach { free($0) } }
    return cStrings.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
