import CubeGrid
import GDALKit

/// The target grid's pixel centres transformed, exactly (PROJ, no interpolation), into a source
/// CRS. Row-major, one entry per target pixel; points PROJ cannot transform are infinite so they
/// fall outside every source raster.
final class SourceCentres {
    let xs: [Double]
    let ys: [Double]

    var byteCount: Int { (xs.count + ys.count) * MemoryLayout<Double>.stride }

    /// `transform` nil means the CRSs are the same and centres are used as they are.
    init(target: GeoBox, transform: CoordinateTransform?) {
        let w = target.width, h = target.height, n = w * h
        // Centres come from integers (GeoBox.x/y), never by accumulating steps.
        let columnX = (0..<w).map(target.x)
        var xs = [Double](unsafeUninitializedCapacity: n) { buf, count in
            for row in 0..<h {
                let base = row * w
                for col in 0..<w { buf[base + col] = columnX[col] }
            }
            count = n
        }
        var ys = [Double](unsafeUninitializedCapacity: n) { buf, count in
            for row in 0..<h {
                let y = target.y(row), base = row * w
                for col in 0..<w { buf[base + col] = y }
            }
            count = n
        }
        if let transform {
            xs.withUnsafeMutableBufferPointer { xb in
                ys.withUnsafeMutableBufferPointer { yb in _ = transform.transform(x: xb, y: yb) }
            }
        }
        self.xs = xs
        self.ys = ys
    }
}
