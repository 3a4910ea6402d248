@testable import SceneIndex
import Testing

@Suite struct IndexFormatTests {
    @Test func blocksGroupChunks() {
        let n = IndexFormat.blockChunks
        #expect(IndexFormat.block(cy: 0, cx: 0) == (0, 0))
        #expect(IndexFormat.block(cy: n - 1, cx: n) == (0, 1))
        #expect(IndexFormat.blockKey(bin: "2024-03", by: 2, bx: 7) == "_cube/index/2024-03/2.7.json")
    }

    @Test func fingerprintNamesContent() {
        var a = Fingerprint(), b = Fingerprint(), c = Fingerprint()
        a.add("item-1"); a.add("href 100 \"etag\"")
        b.add("item-1"); b.add("href 100 \"etag\"")
        c.add("item-1"); c.add("href 101 \"etag\"")
        #expect(a.hex == b.hex)
        #expect(a.hex != c.hex)
        #expect(a.hex.count == 32)
        // Field boundaries count: "ab"+"c" is not "a"+"bc".
        var d = Fingerprint(), e = Fingerprint()
        d.add("ab"); d.add("c")
        e.add("a"); e.add("bc")
        #expect(d.hex != e.hex)
    }
}
