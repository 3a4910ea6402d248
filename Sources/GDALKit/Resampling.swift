/// How a source raster is sampled at a target pixel's centre: the spec names it, the scene
/// reader applies it. Here, beside the GDAL wrappers, because both the spec (upstream) and the
/// warp (downstream) use it and neither should import the other for one enum.
public enum Resampling: String, Equatable, Sendable, CaseIterable {
    case nearest, bilinear, average
}
