import Foundation
import JSON
import StacItems
@testable import StacSearch

/// Earth Search v1 `sentinel-2-l2a`-shaped items (field layout copied from real responses),
/// as plain dictionaries so tests can remove or retype any field.
enum ItemFixtures {
    /// A 1°×1° square footprint with its south-west corner at (lon, lat).
    static func square(lon: Double, lat: Double, size: Double = 1) -> [String: Any] {
        ["type": "Polygon",
         "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]]
    }

    static func earthSearchItem(id: String = "S2A_32TNS_20240305_0_L2A",
                                datetime: String = "2024-03-05T10:27:43.588000Z",
                                lon: Double = 9.0, lat: Double = 45.0,
                                cloud: Double = 12.3, baseline: String = "05.10",
                                boaApplied: Bool? = true, tile: (Int, String, String) = (32, "T", "NS"),
                                updated: String = "2024-03-05T18:03:09.826Z") -> [String: Any] {
        let base = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/32/T/NS/2024/3/\(id)"
        var props: [String: Any] = [
            "created": "2024-03-05T18:03:09.826Z",
            "platform": "sentinel-2a",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud,
            "proj:epsg": 32600 + tile.0,
            "mgrs:utm_zone": tile.0,
            "mgrs:latitude_band": tile.1,
            "mgrs:grid_square": tile.2,
            "grid:code": "MGRS-\(tile.0)\(tile.1)\(tile.2)",
            "view:sun_azimuth": 157.2,
            "s2:processing_baseline": baseline,
            "s2:product_uri": "S2A_MSIL2A_20240305T102841_N0510_R108_T32TNS_20240305T162356.SAFE",
            "datetime": datetime,
            "updated": updated,
        ]
        if let boaApplied { props["earthsearch:boa_offset_applied"] = boaApplied }
        return [
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": id,
            "properties": props,
            "geometry": square(lon: lon, lat: lat),
            "links": [["rel": "self", "href": "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/\(id)"]],
            "assets": [
                "red": [
                    "href": "\(base)/B04.tif",
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "title": "Red (band 4) - 10m",
                    "gsd": 10,
                    "proj:shape": [10980, 10980],
                    "proj:transform": [10, 0, 499980, 0, -10, 5300040],
                    "raster:bands": [["nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                                      "spatial_resolution": 10, "scale": 0.0001, "offset": -0.1]],
                    "roles": ["data", "reflectance"],
                ] as [String: Any],
                "scl": [
                    "href": "\(base)/SCL.tif",
                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "proj:shape": [5490, 5490],
                    "proj:transform": [20, 0, 499980, 0, -20, 5300040],
                    "raster:bands": [["nodata": 0, "data_type": "uint8", "spatial_resolution": 20]],
                    "roles": ["data"],
                ] as [String: Any],
                "thumbnail": ["href": "\(base)/thumbnail.jpg", "type": "image/jpeg", "roles": ["thumbnail"]],
            ],
            "bbox": [lon, lat, lon + 1, lat + 1],
            "collection": "sentinel-2-l2a",
        ]
    }

    static func json(_ object: Any) -> JSONValue {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return try! JSONValue.parse(data)
    }

    static func parse(_ object: [String: Any], policy: HrefPolicy = .remote) -> Result<StacItem, ItemProblem> {
        StacItemParser(hrefPolicy: policy).parse(json(object))
    }

    static func item(_ object: [String: Any]) throws -> StacItem {
        try parse(object).get()
    }

    static func collection(_ items: [[String: Any]]) -> Data {
        try! JSONSerialization.data(withJSONObject: ["type": "FeatureCollection", "features": items])
    }
}

/// Sets a value at a path of nested dictionaries (nil removes it).
func setting(_ object: [String: Any], _ path: [String], _ value: Any?) -> [String: Any] {
    var copy = object
    guard let head = path.first else { return copy }
    if path.count == 1 {
        copy[head] = value
    } else {
        copy[head] = setting(copy[head] as? [String: Any] ?? [:], Array(path.dropFirst()), value)
    }
    return copy
}
