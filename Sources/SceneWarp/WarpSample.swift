import GDALKit

/// Sample types a plane is produced in: UInt16 for reflectance bands, UInt8 for the SCL mask.
/// The per-pixel loops are concrete per type (not generic witness calls), so they stay tight
/// when called from other modules.
public protocol WarpSample: RasterElement, FixedWidthInteger, UnsignedInteger {
    /// `out[i] = window[indices[i]]`, or 0 where `indices[i] < 0`.
    static func gather(window: UnsafeBufferPointer<Self>, indices: UnsafeBufferPointer<Int32>,
                       into out: UnsafeMutableBufferPointer<Self>)
    /// `out[targets[j]] = tile[offsets[j]]`: target pixels taken from one decoded tile.
    static func gather(tile: UnsafePointer<Self>, offsets: UnsafeBufferPointer<Int32>,
                       targets: UnsafeBufferPointer<Int32>, into out: UnsafeMutableBufferPointer<Self>)
    /// Replaces a source nodata value other than 0 by 0, the cube's "no data".
    static func zeroNoData(_ buffer: UnsafeMutableBufferPointer<Self>, noData: Double)
}

extension UInt16: WarpSample {
    public static func gather(window: UnsafeBufferPointer<UInt16>, indices: UnsafeBufferPointer<Int32>,
                              into out: UnsafeMutableBufferPointer<UInt16>) {
        gatherLoop(window, indices, out)
    }
    public static func gather(tile: UnsafePointer<UInt16>, offsets: UnsafeBufferPointer<Int32>,
                              targets: UnsafeBufferPointer<Int32>, into out: UnsafeMutableBufferPointer<UInt16>) {
        tileGatherLoop(tile, offsets, targets, out)
    }
    public static func zeroNoData(_ buffer: UnsafeMutableBufferPointer<UInt16>, noData: Double) {
        zeroLoop(buffer, noData)
    }
}

extension UInt8: WarpSample {
    public static func gather(window: UnsafeBufferPointer<UInt8>, indices: UnsafeBufferPointer<Int32>,
                              into out: UnsafeMutableBufferPointer<UInt8>) {
        gatherLoop(window, indices, out)
    }
    public static func gather(tile: UnsafePointer<UInt8>, offsets: UnsafeBufferPointer<Int32>,
                              targets: UnsafeBufferPointer<Int32>, into out: UnsafeMutableBufferPointer<UInt8>) {
        tileGatherLoop(tile, offsets, targets, out)
    }
    public static func zeroNoData(_ buffer: UnsafeMutableBufferPointer<UInt8>, noData: Double) {
        zeroLoop(buffer, noData)
    }
}

@inline(__always)
private func gatherLoop<T: FixedWidthInteger>(_ window: UnsafeBufferPointer<T>, _ indices: UnsafeBufferPointer<Int32>,
                                              _ out: UnsafeMutableBufferPointer<T>) {
    precondition(out.count == indices.count)
    guard let src = window.baseAddress, let idx = indices.baseAddress, let dst = out.baseAddress else { return }
    for i in 0..<indices.count {
        let k = idx[i]
        dst[i] = k >= 0 ? src[Int(k)] : 0
    }
}

@inline(__always)
private func tileGatherLoop<T: FixedWidthInteger>(_ tile: UnsafePointer<T>, _ offsets: UnsafeBufferPointer<Int32>,
                                                  _ targets: UnsafeBufferPointer<Int32>, _ out: UnsafeMutableBufferPointer<T>) {
    guard let dst = out.baseAddress, let off = offsets.baseAddress, let tgt = targets.baseAddress else { return }
    for j in 0..<offsets.count { dst[Int(tgt[j])] = tile[Int(off[j])] }
}

@inline(__always)
private func zeroLoop<T: FixedWidthInteger>(_ buffer: UnsafeMutableBufferPointer<T>, _ noData: Double) {
    // A nodata value the type cannot hold never occurs in the data.
    guard noData != 0, noData == noData.rounded(), let value = T(exactly: noData) else { return }
    for i in buffer.indices where buffer[i] == value { buffer[i] = 0 }
}
