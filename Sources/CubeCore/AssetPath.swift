/// The GDAL path of a STAC asset href: remote objects go through GDAL's streaming virtual
/// file systems, which fetch byte ranges on demand (so only the blocks read are downloaded).
public func gdalPath(forHref href: String) -> String {
    if href.hasPrefix("/vsi") { return href }
    // Schemes are case-insensitive (HTTP://… is a valid URL).
    let lower = href.prefix(8).lowercased()
    if lower.hasPrefix("http://") || lower.hasPrefix("https://") { return "/vsicurl/" + href }
    if lower.hasPrefix("s3://") { return "/vsis3/" + href.dropFirst("s3://".count) }
    if lower.hasPrefix("gs://") { return "/vsigs/" + href.dropFirst("gs://".count) }
    if lower.hasPrefix("file://") { return String(href.dropFirst("file://".count)) }
    return href
}
