/// What a sensor's pixel values are, from the source file to the cube: the source sample type
/// and nodata, how samples become the cube's stored values, and what those values mean (CF
/// `scale_factor`, `add_offset`, `units`). The schema, the pyramid and `cube serve` take the
/// meaning from here, so a sensor that is not reflectance × 10000 needs no edit elsewhere.
///
/// The observation store holds uint16 with 0 = no data; every domain's stored type is uint16.
/// Integer sources go through an exact `ValueMap` per asset (`conversion == .valueMap`); other
/// sources (float32, signed integers) are quantised when read: stored = round((x − addOffset) /
/// scaleFactor), clamped to 1...65535, nodata and NaN → 0 (`conversion == .quantise`).
///
/// The cube's band arrays are either those stored integers with CF scale/offset
/// (`cubeType == .uint16`, reflectance) or decoded float32 values (`cubeType == .float32`):
/// the statistics still reduce uint16, then one contiguous pass per plane writes
/// `decode(stored)` = Float(Double(stored) × scaleFactor + addOffset), NaN where stored is 0.
public struct ValueDomain: Sendable, Equatable, CustomStringConvertible {
    public enum SampleType: String, Sendable, Equatable {
        case uint8, uint16, int16, uint32, int32, float32
    }
    public enum Conversion: String, Sendable, Equatable {
        /// Integer DN → cube value by the profile's `ValueMap` of each asset.
        case valueMap
        /// x → round((x − addOffset) / scaleFactor), at read time (`quantise(_:)`).
        case quantise
    }
    /// The element type of the cube's per-band statistic arrays.
    public enum CubeType: String, Sendable, Equatable {
        /// The stored integers, with CF `scale_factor`/`add_offset`, 0 = no data (reflectance).
        case uint16
        /// Decoded values, `decode(_:)`, NaN = no data; no scale or offset attributes.
        case float32

        public var outputType: OutputType { self == .uint16 ? .uint16 : .float32 }
    }

    public var sourceType: SampleType
    /// The source's nodata value when its files do not declare one (nil: none beyond 0 for integers).
    public var sourceNoData: Double?
    public var conversion: Conversion
    /// Always uint16 (the observation store's type); kept so metadata says so.
    public var storedType: String { "uint16" }
    /// value = stored × scaleFactor + addOffset (CF); stored 0 = no data.
    public var scaleFactor: Double
    public var addOffset: Double
    /// CF units of the decoded value ("1" for reflectance, "m", "dB").
    public var units: String
    /// What the decoded value is, for metadata ("surface reflectance").
    public var quantity: String
    /// The mask asset; nil: the sensor has none and every pixel with data is valid.
    public var maskAsset: String?
    /// What the cube's per-band statistic arrays hold: the stored integers or decoded float32.
    public var cubeType: CubeType

    public init(sourceType: SampleType, sourceNoData: Double? = nil, conversion: Conversion, scaleFactor: Double,
                addOffset: Double = 0, units: String, quantity: String, maskAsset: String?,
                cubeType: CubeType = .uint16) {
        self.sourceType = sourceType
        self.sourceNoData = sourceNoData
        self.conversion = conversion
        self.scaleFactor = scaleFactor
        self.addOffset = addOffset
        self.units = units
        self.quantity = quantity
        self.maskAsset = maskAsset
        self.cubeType = cubeType
    }

    /// Surface reflectance × 10000 in uint16 from unsigned integer DN (Sentinel-2, Landsat).
    public static func reflectance(source: SampleType, maskAsset: String) -> ValueDomain {
        ValueDomain(sourceType: source, conversion: .valueMap, scaleFactor: 0.0001, units: "1",
                    quantity: "surface reflectance", maskAsset: maskAsset)
    }

    /// The same meaning of the cube's values (a mixed cube pools observations, so they must
    /// agree); the source side and the mask may differ.
    public func sameCubeValues(_ other: ValueDomain) -> Bool {
        scaleFactor == other.scaleFactor && addOffset == other.addOffset && units == other.units
            && cubeType == other.cubeType
    }

    /// One stored value → the cube's float32 value: NaN for 0 (no observation), else
    /// Float(Double(stored) × scaleFactor + addOffset) (one float64 multiply-then-add, one
    /// rounding to float32).
    @inlinable
    public func decode(_ stored: UInt16) -> Float {
        stored == 0 ? .nan : Float(Double(stored) * scaleFactor + addOffset)
    }

    /// `out[i] = decode(stored[i])`: the contiguous pass after a statistic's uint16 plane.
    public func decode(_ stored: UnsafeBufferPointer<UInt16>, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(out.count >= stored.count)
        guard let src = stored.baseAddress, let dst = out.baseAddress else { return }
        let (scale, offset) = (scaleFactor, addOffset)
        for i in 0..<stored.count {
            let v = src[i]
            // The same expression as `decode(_:)`: bit-identical values.
            dst[i] = v == 0 ? .nan : Float(Double(v) * scale + offset)
        }
    }

    /// One source sample → stored value (`.quantise`): 0 for nodata, NaN or ±∞.
    @inlinable
    public func quantise(_ x: Double) -> UInt16 {
        guard x.isFinite, x != sourceNoData else { return 0 }
        let q = ((x - addOffset) / scaleFactor).rounded()
        return q < 1 ? 1 : q > 65535 ? 65535 : UInt16(q)
    }

    /// `out[i] = quantise(samples[i])`: the contiguous loop a reader runs per plane.
    public func quantise(_ samples: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<UInt16>, noData: Double?) {
        precondition(out.count >= samples.count)
        let nd = noData ?? sourceNoData
        let offset = addOffset
        guard let src = samples.baseAddress, let dst = out.baseAddress else { return }
        for i in 0..<samples.count {
            let x = Double(src[i])
            if !x.isFinite || x == nd { dst[i] = 0; continue }
            // Division, not × inv: the reference divides, and ties must round alike.
            let q = ((x - offset) / scaleFactor).rounded()
            dst[i] = q < 1 ? 1 : q > 65535 ? 65535 : UInt16(q)
        }
    }

    public var description: String {
        "\(sourceType.rawValue) → uint16 (\(conversion.rawValue)), \(quantity) = stored × \(scaleFactor) + \(addOffset) \(units), cube \(cubeType.rawValue), mask \(maskAsset ?? "none")"
    }
}
