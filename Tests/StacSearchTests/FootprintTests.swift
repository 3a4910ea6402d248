import CubeCore
import Foundation
import StacItems
import Testing
@testable import StacSearch

@Suite struct FootprintTests {
    func box(_ w: Double, _ s: Double, _ e: Double, _ n: Double) -> LonLatFootprint {
        LonLatFootprint(LonLatBBox(west: w, south: s, east: e, north: n))
    }

    /// A thin diagonal strip from (0,0) to (10,10): its bbox covers everything, the strip does not.
    let diagonal = LonLatFootprint(LonLatPolygon(exterior: [
        LonLat(0, 0), LonLat(1, 0), LonLat(10, 9), LonLat(10, 10), LonLat(9, 10), LonLat(0, 1),
    ]))

    @Test func bboxOverlapIsNotEnough() {
        #expect(diagonal.bbox!.intersects(box(7, 1, 9, 3).bbox!))  // the boxes overlap...
        #expect(!diagonal.intersects(box(7, 1, 9, 3)))             // ...the shapes do not
        #expect(diagonal.intersects(box(4, 4, 6, 6)))
    }

    @Test func containmentEitherWay() {
        #expect(box(0, 0, 10, 10).intersects(box(4, 4, 5, 5)))
        #expect(box(4, 4, 5, 5).intersects(box(0, 0, 10, 10)))
    }

    @Test func crossingWithoutContainedVertices() {
        // A plus sign: neither has a vertex inside the other.
        #expect(box(0, 4, 10, 6).intersects(box(4, 0, 6, 10)))
    }

    @Test func disjointAndTouching() {
        #expect(!box(0, 0, 1, 1).intersects(box(2, 0, 3, 1)))
        #expect(box(0, 0, 1, 1).intersects(box(1, 0, 2, 1)))  // shared edge counts
    }

    @Test func holesAreOutside() {
        let ring = LonLatFootprint(LonLatPolygon(
            exterior: [LonLat(0, 0), LonLat(10, 0), LonLat(10, 10), LonLat(0, 10)],
            holes: [[LonLat(3, 3), LonLat(7, 3), LonLat(7, 7), LonLat(3, 7)]]))
        #expect(!ring.intersects(box(4, 4, 6, 6)))
        #expect(ring.intersects(box(6, 6, 8, 8)))
        #expect(ring.intersects(box(-1, -1, 11, 11)))
    }

    @Test func multiPolygonParts() {
        let two = LonLatFootprint([box(0, 0, 1, 1).polygons[0], box(5, 5, 6, 6).polygons[0]])
        #expect(two.intersects(box(5.5, 5.5, 7, 7)))
        #expect(!two.intersects(box(2, 2, 4, 4)))
    }

    @Test func observationsDropItemsOutsideTheFootprint() throws {
        let inside = try ItemFixtures.item(ItemFixtures.earthSearchItem(id: "in", lon: 9, lat: 45))
        let outside = try ItemFixtures.item(ItemFixtures.earthSearchItem(id: "out", lon: 12, lat: 45, tile: (33, "T", "UL")))
        let (obs, dropped) = SolarDayGrouping.observations(from: [inside, outside], footprint: box(9.5, 45.5, 9.6, 45.6))
        #expect(obs.flatMap { $0.scenes.map(\.id) } == ["in"])
        #expect(dropped == [SkippedItem(id: "out", reason: "footprint misses the query area")])
    }
}
