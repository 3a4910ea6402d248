@testable import SceneWarp
import CubeCore
import Testing

@Suite struct CacheTests {
    @Test func lruEvictsLeastRecentlyUsedByCountAndCost() {
        var cache = LRUCache<String, Int>(maxCount: 2, maxCost: 100)
        cache.insert(1, for: "a", cost: 10)
        cache.insert(2, for: "b", cost: 10)
        _ = cache.value(for: "a")           // b is now the least recently used
        cache.insert(3, for: "c", cost: 10)
        #expect(cache.value(for: "b") == nil)
        #expect(cache.value(for: "a") == 1 && cache.value(for: "c") == 3)

        cache.insert(4, for: "d", cost: 95) // over the cost bound: everything else goes
        #expect(cache.count == 1 && cache.value(for: "d") == 4 && cache.totalCost == 95)
    }

    @Test func hrefsMapToGDALVirtualPaths() {
        #expect(gdalPath(forHref: "https://e84.example/S2/B04.tif") == "/vsicurl/https://e84.example/S2/B04.tif")
        #expect(gdalPath(forHref: "s3://sentinel-cogs/tiles/B04.tif") == "/vsis3/sentinel-cogs/tiles/B04.tif")
        #expect(gdalPath(forHref: "/data/B04.tif") == "/data/B04.tif")
        #expect(gdalPath(forHref: "file:///data/B04.tif") == "/data/B04.tif")
    }
}
