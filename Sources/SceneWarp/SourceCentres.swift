import CubeGrid
import GDALKit

/// The target grid's pixel centres in one source CRS. Row-major, one entry per target pixel;
/// points PROJ cannot transform are infinite so they fall outside every source raster.
///
/// Exact PROJ for every pixel costs more than decoding a band of some scenes, so along each row
/// only every `step`-th centre (and the last) is transformed exactly and the ones between are
/// interpolated linearly. `tolerance` bounds the interpolation error (source CRS units): an
/// index map refines, exactly, every centre closer than that to a source pixel edge, so the
/// pixel picked is always the exact centre's (`exact(_:)`). Smooth projections only: where the
/// measured error is not small next to a pixel, or a point fails, every centre is exact.
final class SourceCentres {
    let xs: [Double]
    let ys: [Double]
    /// Upper bound of |interpolated − exact| per coordinate; 0 when every centre is exact.
    let tolerance: Double
    private let target: GeoBox

    static let step = 16
    /// Safety factor over the largest interpolation error measured at segment midpoints (the
    /// error is quadratic along a segment, largest at its middle, and its curvature changes
    /// little between the rows measured, 32 apart).
    static let margin = 8.0

    var byteCount: Int { (xs.count + ys.count) * MemoryLayout<Double>.stride }

    /// `transform` nil means the CRSs are the same and centres are used as they are.
    init(target: GeoBox, transform: CoordinateTransform?, interpolate: Bool = true) {
        self.target = target
        let w = target.width, h = target.height, n = w * h
        guard let transform else {
            (xs, ys) = Self.plainCentres(target)
            tolerance = 0
            return
        }
        if interpolate, let (xs, ys, tolerance) = Self.interpolated(target, transform) {
            (self.xs, self.ys, self.tolerance) = (xs, ys, tolerance)
            return
        }
        var (xs, ys) = Self.plainCentres(target)
        xs.withUnsafeMutableBufferPointer { xb in
            ys.withUnsafeMutableBufferPointer { yb in _ = transform.transform(x: xb, y: yb) }
        }
        precondition(xs.count == n)
        (self.xs, self.ys, tolerance) = (xs, ys, 0)
    }

    /// Exact source coordinates of the target pixels `indices` (row-major pixel numbers).
    func exact(_ indices: [Int], using transform: CoordinateTransform?) -> (xs: [Double], ys: [Double]) {
        let w = target.width
        var x = indices.map { target.x($0 % w) }, y = indices.map { target.y($0 / w) }
        if let transform {
            x.withUnsafeMutableBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in _ = transform.transform(x: xb, y: yb) } }
        }
        return (x, y)
    }

    /// Centres come from integers (GeoBox.x/y), never by accumulating steps.
    private static func plainCentres(_ target: GeoBox) -> ([Double], [Double]) {
        let w = target.width, h = target.height, n = w * h
        let columnX = (0..<w).map(target.x)
        let xs = [Double](unsafeUninitializedCapacity: n) { buf, count in
            for row in 0..<h {
                let base = row * w
                for col in 0..<w { buf[base + col] = columnX[col] }
            }
            count = n
        }
        let ys = [Double](unsafeUninitializedCapacity: n) { buf, count in
            for row in 0..<h {
                let y = target.y(row), base = row * w
                for col in 0..<w { buf[base + col] = y }
            }
            count = n
        }
        return (xs, ys)
    }

    /// nil when interpolation is not safe here (a point fails, or the error is not small).
    private static func interpolated(_ target: GeoBox, _ transform: CoordinateTransform)
        -> (xs: [Double], ys: [Double], tolerance: Double)? {
        let w = target.width, h = target.height, step = Self.step
        guard w > 2 * step else { return nil }
        // Node columns: 0, step, 2·step, …, and the last column.
        var nodes = Array(stride(from: 0, to: w - 1, by: step))
        nodes.append(w - 1)
        let nn = nodes.count
        var nx = [Double](repeating: 0, count: nn * h), ny = [Double](repeating: 0, count: nn * h)
        for row in 0..<h {
            let y = target.y(row)
            for (j, col) in nodes.enumerated() {
                nx[row * nn + j] = target.x(col)
                ny[row * nn + j] = y
            }
        }
        var failures = 0
        nx.withUnsafeMutableBufferPointer { xb in ny.withUnsafeMutableBufferPointer { yb in failures = transform.transform(x: xb, y: yb) } }
        guard failures == 0 else { return nil }

        // Measure the interpolation error at segment midpoints of every 32nd row and the last.
        let sampleRows = Array(stride(from: 0, to: h, by: 32)) + [h - 1]
        var mx: [Double] = [], my: [Double] = [], expectX: [Double] = [], expectY: [Double] = []
        for row in sampleRows {
            for j in 0..<(nn - 1) where nodes[j + 1] - nodes[j] > 1 {
                let c0 = nodes[j], c1 = nodes[j + 1], mid = (c0 + c1) / 2
                let t = Double(mid - c0) / Double(c1 - c0)
                let k = row * nn + j
                mx.append(target.x(mid)); my.append(target.y(row))
                expectX.append(nx[k] + (nx[k + 1] - nx[k]) * t)
                expectY.append(ny[k] + (ny[k + 1] - ny[k]) * t)
            }
        }
        mx.withUnsafeMutableBufferPointer { xb in my.withUnsafeMutableBufferPointer { yb in failures = transform.transform(x: xb, y: yb) } }
        guard failures == 0 else { return nil }
        var worst = 0.0
        for i in mx.indices { worst = max(worst, abs(mx[i] - expectX[i]), abs(my[i] - expectY[i])) }
        // Rounding of the interpolation itself, relative to the coordinates' magnitude.
        let scale = max(abs(nx[0]), abs(ny[0]), 1)
        let tolerance = worst * Self.margin + scale * 1e-12
        // Not small next to a segment: a curved or nearly singular mapping; use exact centres.
        let segment = max(abs(nx[1] - nx[0]), abs(ny[1] - ny[0]))
        guard tolerance < segment * 1e-3 else { return nil }

        let n = w * h
        var xs = [Double](repeating: 0, count: n), ys = [Double](repeating: 0, count: n)
        xs.withUnsafeMutableBufferPointer { xs in
            ys.withUnsafeMutableBufferPointer { ys in
                for row in 0..<h {
                    let base = row * w, nb = row * nn
                    for j in 0..<(nn - 1) {
                        let c0 = nodes[j], c1 = nodes[j + 1]
                        let x0 = nx[nb + j], y0 = ny[nb + j]
                        let dx = nx[nb + j + 1] - x0, dy = ny[nb + j + 1] - y0
                        let span = Double(c1 - c0)
                        for c in c0..<c1 {
                            let t = Double(c - c0) / span
                            xs[base + c] = x0 + dx * t
                            ys[base + c] = y0 + dy * t
                        }
                    }
                    xs[base + w - 1] = nx[nb + nn - 1]
                    ys[base + w - 1] = ny[nb + nn - 1]
                }
            }
        }
        return (xs, ys, tolerance)
    }
}
