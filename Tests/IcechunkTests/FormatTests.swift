import Foundation
import Testing
@testable import Icechunk

@Suite struct Base32Tests {
    @Test func specVectorForTheInitialSnapshot() {
        let bytes: [UInt8] = [0x0b, 0x1c, 0xc8, 0xd6, 0x78, 0x75, 0x80, 0xf0, 0xe3, 0x3a, 0x65, 0x34]
        #expect(CrockfordBase32.encode(bytes) == "1CECHNKREP0F1RSTCMT0")
        #expect(ObjectId12(bytes: bytes)?.description == "1CECHNKREP0F1RSTCMT0")
        #expect(IcechunkRepository.initialSnapshotId.bytes == bytes)
        #expect(ObjectId12("1CECHNKREP0F1RSTCMT0")?.bytes == bytes)
    }

    @Test func lengthsAndPadding() {
        #expect(CrockfordBase32.encode([]) == "")
        #expect(CrockfordBase32.encode([0xFF]) == "ZW")  // 11111 111(00)
        #expect(CrockfordBase32.encode([0, 0, 0, 0, 0, 0, 0, 0]).count == 13)
        // A node id from a repository icechunk-python 2.3.0 wrote (bytes and the 13 characters).
        let node = NodeId(bytes: [104, 116, 186, 184, 179, 190, 110, 4])!
        #expect(node.description.count == 13)
        #expect(CrockfordBase32.decode(node.description) == node.bytes)
    }

    @Test func decodeRejectsWhatIsNotAnId() {
        #expect(CrockfordBase32.decode("1CECHNKREP0F1RSTCMTU") == nil)  // U is not in the alphabet
        #expect(CrockfordBase32.decode("ZZ") == nil)  // non-zero padding bits
        #expect(ObjectId12("1CECHNKREP0F1RSTCMT") == nil)  // 19 characters
        #expect(CrockfordBase32.decode("1cechnkrep0f1rstcmt0") == CrockfordBase32.decode("1CECHNKREP0F1RSTCMT0"))
    }

    @Test func randomRoundTrips() {
        for _ in 0..<200 {
            let id = ObjectId12.random()
            #expect(ObjectId12(id.description) == id)
            let n = NodeId.random()
            #expect(NodeId(bytes: CrockfordBase32.decode(n.description)!) == n)
        }
    }

    @Test func orderIsByteOrder() {
        for _ in 0..<200 {
            let a = ObjectId12.random(), b = ObjectId12.random()
            #expect((a < b) == a.bytes.lexicographicallyPrecedes(b.bytes))
        }
    }
}

@Suite struct FlexBuffersTests {
    /// Values and the exact bytes icechunk-python 2.3.0 wrote for them (commit metadata and the
    /// initial snapshot's `__icechunk` item, decoded with flatc from its repo object).
    static let fixtures: [(MetadataValue, [UInt8])] = [
        (.object(["is_root": .bool(true)]), [105, 115, 95, 114, 111, 111, 116, 0, 1, 9, 1, 1, 1, 1, 104, 2, 36, 1]),
        (.uint(1), [1, 8, 1]),
        (.string("x"), [1, 120, 0, 2, 20, 1]),
        (.array([.uint(1), .double(2.5), .null]), [3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 32, 64, 0, 0, 0, 0, 10, 14, 2, 15, 42, 1]),
        (.bool(true), [1, 104, 1]),
        (.int(-3), [253, 4, 1]),
    ]

    @Test func encodesAsIcechunkDoes() throws {
        for (value, bytes) in Self.fixtures {
            #expect(FlexBuffers.encode(value) == bytes, "\(value)")
            #expect(try FlexBuffers.decode(bytes) == value)
        }
    }

    @Test func roundTripsNestedValues() throws {
        let big = String(repeating: "é", count: 300)
        let value: MetadataValue = .object([
            "b": .array([.string(big), .int(-70000), .uint(1 << 40), .double(0.1), .object(["z": .null, "a": .bool(false)])]),
            "a": .string(""),
            "nested": .object(["deep": .array((0..<300).map { .uint(UInt64($0)) })]),
        ])
        #expect(try FlexBuffers.decode(FlexBuffers.encode(value)) == value)
    }

    @Test func hostileBytesThrowAndNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        let seed = FlexBuffers.encode(.object(["a": .array([.string("xyz"), .uint(300), .double(0.1)])]))
        for _ in 0..<20_000 {
            var b = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? FlexBuffers.decode(b)
            _ = try? FlexBuffers.decode(Array(b.prefix(Int.random(in: 0...b.count, using: &rng))))
        }
        #expect(throws: IcechunkError.self) { try FlexBuffers.decode([1, 2]) }
    }
}
