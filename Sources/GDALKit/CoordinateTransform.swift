import CGDAL

/// An exact PROJ transformation between two CRSs (no approximation, unlike GDAL's warper
/// default). Not thread safe: use one instance per thread.
public final class CoordinateTransform {
    let handle: OGRCoordinateTransformationH
    public let source: SpatialReference
    public let target: SpatialReference

    public init(from source: SpatialReference, to target: SpatialReference) throws {
        GDAL.initialize()
        guard let h = SpatialReference.withHandles(source, target, { OCTNewCoordinateTransformation($0, $1) }) else {
            throw GDALError.last("no transformation from \(source.name) to \(target.name)")
        }
        handle = h
        self.source = source
        self.target = target
    }

    deinit { OCTDestroyCoordinateTransformation(handle) }

    /// Transforms points in place. Returns per point whether it succeeded; failed points are
    /// set to infinity so callers cannot use them by accident.
    @discardableResult
    public func transform(x: UnsafeMutableBufferPointer<Double>, y: UnsafeMutableBufferPointer<Double>) -> Int {
        precondition(x.count == y.count)
        let n = x.count
        guard n > 0 else { return 0 }
        var success = [Int32](repeating: 0, count: n)
        _ = OCTTransformEx(handle, Int32(n), x.baseAddress, y.baseAddress, nil, &success)
        var failures = 0
        for i in 0..<n where success[i] == 0 || !x[i].isFinite || !y[i].isFinite {
            x[i] = .infinity
            y[i] = .infinity
            failures += 1
        }
        return failures
    }

    /// Convenience for a few points.
    public func transform(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        var xs = points.map(\.x)
        var ys = points.map(\.y)
        xs.withUnsafeMutableBufferPointer { xb in
            ys.withUnsafeMutableBufferPointer { yb in _ = transform(x: xb, y: yb) }
        }
        return zip(xs, ys).map { ($0, $1) }
    }
}

extension CoordinateTransform {
    /// Bounds of a rectangle after transformation, with `densify` points along each edge so
    /// curved edges (lon/lat ↔ projected) are fully enclosed. Nil when PROJ cannot do it
    /// (e.g. a polar box into UTM).
    public func transformBounds(minX: Double, minY: Double, maxX: Double, maxY: Double,
                                densify: Int = 21) -> (minX: Double, minY: Double, maxX: Double, maxY: Double)? {
        var a = 0.0, b = 0.0, c = 0.0, d = 0.0
        guard OCTTransformBounds(handle, minX, minY, maxX, maxY, &a, &b, &c, &d, Int32(densify)) != 0,
              [a, b, c, d].allSatisfy(\.isFinite), a <= c, b <= d else { return nil }
        return (a, b, c, d)
    }
}
