import CubeJobs
import Foundation
import Testing

@Suite struct SceneChangeTests {
    func scene(_ id: String, tile: String? = "MGRS-32TQR", datetime: String = "2024-03-05T10:00:00Z",
               updated: String? = "2024-03-06T00:00:00Z", assets: [String: String?] = ["red": "checksum:a"]) -> SceneProvenance {
        SceneProvenance(id: id, datetime: datetime, updated: updated, tile: tile, assets: assets)
    }

    @Test func sameScenesAreNoChange() {
        let a = [scene("S2A_1_0_L2A"), scene("S2B_2_0_L2A", datetime: "2024-03-10T10:00:00Z")]
        #expect(SceneChange.between(built: a, now: a).isEmpty)
        // Order is not a change (the worker's order is recomputed the same way anyway).
        #expect(SceneChange.between(built: a, now: a.reversed()).isEmpty)
    }

    @Test func lateArrivalWithdrawalAndReprocessing() {
        let built = [scene("S2A_T_20240305_0_L2A"), scene("S2B_T_20240310_0_L2A", datetime: "2024-03-10T10:00:00Z")]
        let now = [scene("S2A_T_20240305_1_L2A"),                                          // reprocessed copy wins
                   scene("S2A_T_20240315_0_L2A", datetime: "2024-03-15T10:00:00Z")]        // late arrival
        let change = SceneChange.between(built: built, now: now)
        #expect(change.added == ["S2A_T_20240305_1_L2A", "S2A_T_20240315_0_L2A"])
        #expect(change.withdrawn == ["S2A_T_20240305_0_L2A", "S2B_T_20240310_0_L2A"])
        #expect(change.replaced == ["S2A_T_20240305_0_L2A → S2A_T_20240305_1_L2A"])
        #expect(change.changed.isEmpty)
        #expect(change.summary == "added S2A_T_20240315_0_L2A; withdrawn S2B_T_20240310_0_L2A; replaced S2A_T_20240305_0_L2A → S2A_T_20240305_1_L2A")
    }

    @Test func newerUpdatedOrAnotherObjectIsAChange() {
        let built = [scene("A"), scene("B", datetime: "2024-03-10T10:00:00Z")]
        let touched = [scene("A", updated: "2024-04-01T00:00:00Z"), scene("B", datetime: "2024-03-10T10:00:00Z")]
        #expect(SceneChange.between(built: built, now: touched).changed == ["A"])
        let rewritten = [scene("A"), scene("B", datetime: "2024-03-10T10:00:00Z", assets: ["red": "checksum:b"])]
        let change = SceneChange.between(built: built, now: rewritten)
        #expect(change.changed == ["B"] && change.added.isEmpty && change.withdrawn.isEmpty)
    }

    @Test func provenanceRoundTripsThroughADoneRecord() throws {
        let record = DoneRecord(job: "2024-03/0/1", scenes_found: 2, scenes_used: 1, scenes_skipped: [], observations: 1,
                                valid_pixels: 10, wrote_chunks: true, bytes_read: 1, bytes_written: 1, seconds: [:],
                                finished: "now", scenes: [scene("A", updated: nil, assets: ["red": nil, "scl": "etag:\"x\""])])
        let data = try JSONEncoder().encode(record)
        #expect(try JSONDecoder().decode(DoneRecord.self, from: data) == record)
        // A record from before provenance decodes with no scenes.
        var old = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        old["scenes"] = nil
        let back = try JSONDecoder().decode(DoneRecord.self, from: JSONSerialization.data(withJSONObject: old))
        #expect(back.scenes == nil)
    }
}
