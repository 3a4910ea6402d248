/// The GDAL path of a STAC asset href: remote objects go through GDAL's streaming virtual
/// file systems, which fetch byte ranges on demand (so only the blocks read are downloaded).
public func gdalPath(forHref href: String) -> String {
    if href.hasPrefix("/vsi") { return href }
    if href.hasPrefix("http://") || href.hasPrefix("https://") { return "/vsicurl/" + href }
    if href.hasPrefix("s3://") { return "/vsis3/" + href.dropFirst("s3://".count) }
    if href.hasPrefix("gs://") { return "/vsigs/" + href.dropFirst("gs://".count) }
    if href.hasPrefix("file://") { return String(href.dropFirst("file://".count)) }
    return href
}
