import Composite
import Foundation
import JSON
import Sensors
import StacItems
import Testing

@Suite struct ProfileTests {
    @Test func profilesAreChosenByCollection() {
        #expect(SensorProfiles.reading(collection: "sentinel-2-l2a")?.id == "sentinel-2-l2a")
        #expect(SensorProfiles.reading(collection: "sentinel-2-c1-l2a")?.id == "sentinel-2-l2a")
        #expect(SensorProfiles.reading(collection: "landsat-c2-l2")?.id == "landsat-c2-l2")
        #expect(SensorProfiles.reading(collection: "sentinel-2-l1c") == nil)
        #expect(SensorProfiles.reading(collection: "sentinel-1-grd") == nil)
        #expect(SensorProfiles.named("landsat-c2-l2")?.shortName == "landsat")
    }

    @Test func landsatBandsAndMaskVocabulary() throws {
        let landsat = LandsatC2L2()
        #expect(landsat.asset(forBand: "nir") == "nir08")
        #expect(landsat.asset(forBand: "swir16") == "swir16")
        #expect(landsat.asset(forBand: "rededge1") == nil)
        #expect(landsat.maskCode("cloud") == 3 && landsat.maskCode("Cloud_Shadow") == 4 && landsat.maskCode("15") == 15)
        #expect(landsat.maskCode("16") == nil && landsat.maskCode("cloudy") == nil)
        let rule = try landsat.maskRule(invalid: landsat.defaultInvalid)
        #expect(rule.isInvalid(UInt16(1 << 6 | 1 << 2)) && !rule.isInvalid(UInt16(1 << 6 | 1 << 5)))
        // The fill bit is no data even when the spec does not list it.
        let lenient = try landsat.maskRule(invalid: [3])
        #expect(lenient.isNoData(1) && lenient.isInvalid(UInt16(1)))
        #expect(Sentinel2L2A().asset(forBand: "rededge1") == "rededge1")
    }

    /// A genuine Earth Search landsat-c2-l2 item (Tests/python/data, with its provenance).
    @Test func genuineLandsatItemGivesTheExactConversion() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../python/data/landsat-c2-l2-earth-search-item.json").standardized
        let json = try JSONValue.parse(try Data(contentsOf: url))
        let item = try StacItemParser(hrefPolicy: .remote).parse(json).get()
        #expect(item.collection == "landsat-c2-l2")
        #expect(item.assets["qa_pixel"] != nil && item.assets["nir08"] != nil)
        let landsat = LandsatC2L2()
        for band in ["red", "green", "blue", "nir", "swir16", "swir22"] {
            let asset = try #require(item.assets[landsat.asset(forBand: band)!])
            let map = try landsat.valueMap(item: item, asset: asset)
            #expect(map == (try ValueMap.reflectance(scale: 0.0000275, offset: -0.2)), "\(band)")
            #expect(map.apply(10000) == 750 && map.apply(0) == 0)
        }
        // Its CRS is at item level (proj:epsg), which every asset inherits.
        #expect(item.assets["red"]?.epsg == 32613)
    }

    /// Earth Search's qa_pixel declares its bit layout; the profile checks it before reading.
    @Test func declaredBitLayoutIsChecked() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../python/data/landsat-c2-l2-earth-search-item.json").standardized
        let item = try StacItemParser(hrefPolicy: .remote).parse(try JSONValue.parse(try Data(contentsOf: url))).get()
        var qa = try #require(item.assets["qa_pixel"])
        #expect(qa.bitfields.first { $0.name == "cloud" } == BitField(name: "cloud", offset: 3, length: 1))
        let landsat = LandsatC2L2()
        try landsat.checkMask(qa, invalid: landsat.defaultInvalid + [5, 7])
        // Another provider's layout with the cloud elsewhere is refused, naming the field.
        qa.bitfields = qa.bitfields.map { $0.name == "cloud" ? BitField(name: "cloud", offset: 5, length: 1) : $0 }
        #expect(throws: MaskLayoutError.self) { try landsat.checkMask(qa, invalid: [0, 3]) }
        // Bits the rule does not read do not matter; no declaration means no check.
        try landsat.checkMask(qa, invalid: [0, 4])
        qa.bitfields = []
        try landsat.checkMask(qa, invalid: [0, 3])
    }
}
