import CubeCore
import Foundation
import StacItems
import Testing
@testable import StacSearch

@Suite struct ItemParsingTests {
    @Test func parsesAnEarthSearchItem() throws {
        let item = try ItemFixtures.item(ItemFixtures.earthSearchItem())
        #expect(item.id == "S2A_32TNS_20240305_0_L2A")
        #expect(item.collection == "sentinel-2-l2a")
        #expect(item.bbox == LonLatBBox(west: 9, south: 45, east: 10, north: 46))
        #expect(item.datetime == RFC3339.parse("2024-03-05T10:27:43.588Z"))
        #expect(item.updated == RFC3339.parse("2024-03-05T18:03:09.826Z"))
        #expect(item.cloudCover == 12.3)
        #expect(item.projCode == "EPSG:32632")
        #expect(item.gridCode == "MGRS-32TNS")
        #expect(item.tileKey == "MGRS-32TNS")
        #expect(item.processingBaseline == "05.10")
        #expect(item.boaOffsetApplied == true)
        let red = try #require(item.assets["red"])
        #expect(red.href.hasSuffix("/B04.tif"))
        #expect(red.roles == ["data", "reflectance"])
        #expect(red.shape == [10980, 10980])
        #expect(red.transform == [10, 0, 499980, 0, -10, 5300040])
        #expect(red.gdalGeoTransform == [499980, 10, 0, 5300040, 0, -10])
        #expect(red.epsg == 32632)
        #expect(red.bands.first?.nodata == 0)
        #expect(red.bands.first?.dataType == "uint16")
        #expect(item.assets["scl"]?.transform?[0] == 20)
        #expect(item.assets.count == 3)
    }

    @Test func projCodeOnAssetsWinsOverItemEPSG() throws {
        var raw = ItemFixtures.earthSearchItem()
        raw = setting(raw, ["properties", "proj:epsg"], nil)
        raw = setting(raw, ["properties", "proj:code"], "EPSG:32633")
        raw = setting(raw, ["assets", "red", "proj:code"], "EPSG:32632")
        let item = try ItemFixtures.item(raw)
        #expect(item.projCode == "EPSG:32633")
        #expect(item.assets["red"]?.projCode == "EPSG:32632")
        #expect(item.assets["scl"]?.epsg == 32633)  // inherits the item's code
    }

    @Test func projEPSGOnAssetOnly() throws {
        var raw = setting(ItemFixtures.earthSearchItem(), ["properties", "proj:epsg"], nil)
        raw = setting(raw, ["assets", "red", "proj:epsg"], 32631)
        let item = try ItemFixtures.item(raw)
        #expect(item.projCode == nil)
        #expect(item.assets["red"]?.projCode == "EPSG:32631")
        #expect(item.assets["scl"]?.projCode == nil)
    }

    @Test func missingOptionalFieldsAreFine() throws {
        var raw = ItemFixtures.earthSearchItem()
        for key in ["eo:cloud_cover", "proj:epsg", "grid:code", "mgrs:utm_zone", "s2:processing_baseline",
                    "earthsearch:boa_offset_applied", "created", "updated"] {
            raw = setting(raw, ["properties", key], nil)
        }
        raw = setting(raw, ["bbox"], nil)
        raw = setting(raw, ["collection"], nil)
        raw = setting(raw, ["assets", "red", "raster:bands"], nil)
        raw = setting(raw, ["assets", "red", "proj:transform"], nil)
        raw = setting(raw, ["properties", "proj:epsg"], NSNull())  // explicit null counts as absent
        let item = try ItemFixtures.item(raw)
        #expect(item.cloudCover == nil)
        #expect(item.gridCode == nil)
        #expect(item.created == nil && item.updated == nil)
        #expect(item.bbox == LonLatBBox(west: 9, south: 45, east: 10, north: 46))  // from the geometry
        #expect(item.assets["red"]?.harmonisationShiftDN == 0)
        // No MGRS: the tile key falls back to CRS + grid of the first asset with a transform; no CRS → the id.
        #expect(item.tileKey == "id:S2A_32TNS_20240305_0_L2A")
    }

    @Test func mgrsFieldsMakeTheSameTileKeyAsGridCode() throws {
        let raw = setting(ItemFixtures.earthSearchItem(tile: (7, "V", "EG")), ["properties", "grid:code"], nil)
        let fromFields = try ItemFixtures.item(raw)
        let fromCode = try ItemFixtures.item(setting(raw, ["properties", "grid:code"], "MGRS-07VEG"))
        #expect(fromFields.tileKey == "MGRS-7VEG")
        #expect(fromCode.tileKey == "MGRS-7VEG")
    }

    @Test func tileKeyFallsBackToCRSAndTransform() throws {
        var raw = ItemFixtures.earthSearchItem()
        for key in ["grid:code", "mgrs:utm_zone"] { raw = setting(raw, ["properties", key], nil) }
        let item = try ItemFixtures.item(raw)
        #expect(item.tileKey == "EPSG:32632|10.0,0.0,499980.0,0.0,-10.0,5300040.0")
    }

    @Test func harmonisationShiftFollowsOffsetAndScale() throws {
        let notApplied = try ItemFixtures.item(ItemFixtures.earthSearchItem(boaApplied: false))
        #expect(notApplied.assets["red"]?.harmonisationShiftDN == -1000)
        #expect(notApplied.assets["scl"]?.harmonisationShiftDN == 0)  // no offset declared
        let absent = try ItemFixtures.item(ItemFixtures.earthSearchItem(boaApplied: nil))
        #expect(absent.assets["red"]?.harmonisationShiftDN == -1000)
        let applied = try ItemFixtures.item(ItemFixtures.earthSearchItem(boaApplied: true))
        #expect(applied.assets["red"]?.harmonisationShiftDN == 0)
        let other = setting(ItemFixtures.earthSearchItem(boaApplied: false), ["assets", "red", "raster:bands"],
                            [["scale": 0.0002, "offset": 0.05]])
        #expect(try ItemFixtures.item(other).assets["red"]?.harmonisationShiftDN == 250)
    }

    @Test func nineElementTransformAndStringNodata() throws {
        var raw = setting(ItemFixtures.earthSearchItem(), ["assets", "red", "proj:transform"],
                          [10, 0, 600000, 0, -10, 5000040, 0, 0, 1])
        raw = setting(raw, ["assets", "red", "raster:bands"], [["nodata": "nan", "data_type": "float32"]])
        let red = try #require(try ItemFixtures.item(raw).assets["red"])
        #expect(red.transform == [10, 0, 600000, 0, -10, 5000040])
        #expect(red.bands.first?.nodata?.isNaN == true)
    }

    /// (field path, replacement as JSON text or nil to remove it, expected reason).
    @Test(arguments: [
        (["id"], nil, "missing required field id"),
        (["geometry"], nil, "missing required field geometry"),
        (["properties", "datetime"], nil, "missing required field properties.datetime"),
        (["properties", "datetime"], "\"2024-03-05\"", "properties.datetime is not RFC 3339"),
        (["properties", "eo:cloud_cover"], "\"12\"", "properties.eo:cloud_cover is not a number"),
        (["properties", "proj:epsg"], "\"32632\"", "properties.proj:epsg is not a positive integer"),
        (["properties", "earthsearch:boa_offset_applied"], "\"yes\"", "is not true or false"),
        (["assets", "red", "href"], nil, "missing required field assets.red.href"),
        (["assets", "red", "proj:transform"], "[1, 2, 3]", "assets.red.proj:transform is not 6 or 9 numbers"),
        (["assets", "red", "raster:bands"], "\"x\"", "assets.red.raster:bands is not a list"),
        (["geometry", "type"], "\"Point\"", "geometry type Point is not Polygon or MultiPolygon"),
        (["geometry", "coordinates"], "[[[0, 0], [1, 1]]]", "geometry ring has fewer than 3 positions"),
    ] as [([String], String?, String)])
    func badFieldsSkipWithAReason(path: [String], json: String?, reason: String) throws {
        let value = try json.map { try JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) }
        let raw = setting(ItemFixtures.earthSearchItem(), path, value)
        guard case .failure(let problem) = ItemFixtures.parse(raw) else {
            Issue.record("item with bad \(path) was accepted")
            return
        }
        #expect(problem.description.contains(reason), "\(problem.description)")
    }

    @Test(arguments: ["file:///etc/passwd", "/etc/passwd", "B04.tif", "ftp://host/x.tif", "gs://b/x.tif", "javascript:alert(1)"])
    func remoteCatalogsMayOnlyPointAtHTTPOrS3(href: String) {
        let raw = setting(ItemFixtures.earthSearchItem(), ["assets", "thumbnail", "href"], href)
        guard case .failure(.forbiddenHref(let asset, _)) = ItemFixtures.parse(raw) else {
            Issue.record("href \(href) was accepted from a remote catalog")
            return
        }
        #expect(asset == "thumbnail")
    }

    @Test func remoteCatalogsAcceptS3() throws {
        let raw = setting(ItemFixtures.earthSearchItem(), ["assets", "red", "href"], "s3://sentinel-cogs/x/B04.tif")
        #expect(try ItemFixtures.item(raw).assets["red"]?.href == "s3://sentinel-cogs/x/B04.tif")
    }

    @Test func localCatalogsResolveRelativePaths() throws {
        let dir = URL(fileURLWithPath: "/data/catalog")
        var raw = setting(ItemFixtures.earthSearchItem(), ["assets", "red", "href"], "scenes/../scenes/B04.tif")
        raw = setting(raw, ["assets", "scl", "href"], "file:///data/other/SCL.tif")
        let item = try ItemFixtures.parse(raw, policy: .local(catalogDirectory: dir)).get()
        #expect(item.assets["red"]?.href == "/data/catalog/scenes/B04.tif")
        #expect(item.assets["scl"]?.href == "/data/other/SCL.tif")
        #expect(item.assets["thumbnail"]?.href.hasPrefix("https://") == true)
    }

    @Test func multiPolygonGeometry() throws {
        let raw = setting(ItemFixtures.earthSearchItem(), ["geometry"], [
            "type": "MultiPolygon",
            "coordinates": [[[[179, 0], [180, 0], [180, 1], [179, 1], [179, 0]]],
                            [[[-180, 0], [-179, 0], [-179, 1], [-180, 1], [-180, 0]]]],
        ] as [String: Any])
        let item = try ItemFixtures.item(raw)
        #expect(item.footprint.polygons.count == 2)
        // The centroid of an antimeridian-split footprint sits on the antimeridian, not at 0°.
        let lon = try #require(item.footprint.centroid?.lon)
        #expect(abs(abs(lon) - 180) < 1e-9)
    }
}
