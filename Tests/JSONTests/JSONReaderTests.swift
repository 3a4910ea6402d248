import Foundation
@testable import JSON
import Testing

/// The byte-level JSON reader and writer against Foundation's, on the genuine Earth Search
/// responses in shared/ and on hand-made and mutated documents. Foundation decides int or
/// double by what fits, the reader by the token's form ("1e3" is a double): numbers are
/// compared as doubles.
@Suite struct JSONReaderTests {
    static func foundation(_ data: Data) -> JSONValue? {
        (try? JSONDecoder().decode(JSONValue.self, from: data)).map(numbersAsDoubles)
    }

    static func fast(_ data: Data) -> JSONValue? { (try? JSONValue.parse(data)).map(numbersAsDoubles) }

    static func numbersAsDoubles(_ v: JSONValue) -> JSONValue {
        switch v {
        case .int(let n): return .double(Double(n))
        case .array(let a): return .array(a.map(numbersAsDoubles))
        case .object(let o): return .object(o.mapValues(numbersAsDoubles))
        default: return v
        }
    }

    static var sharedResponses: [URL] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/data/stac-items/earth-search").standardizedFileURL
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" } ?? []
        return files.sorted { $0.path < $1.path }
    }

    @Test func genuineResponsesReadAsFoundationReadsThem() throws {
        let files = Self.sharedResponses
        #expect(files.count >= 20, "the shared Earth Search responses")
        for (i, file) in files.enumerated() {
            let data = try Data(contentsOf: file)
            let fast = Self.fast(data)
            #expect(fast != nil, "\(file.lastPathComponent)")
            if let value = try? JSONValue.parse(data) {
                #expect(try JSONValue.parse(value.data(pretty: false)) == value, "written back and read again")
            }
            // Foundation reads some 40 times slower (a debug build takes 20 s for all): every 4th file.
            if i % 4 == 0 { #expect(fast == Self.foundation(data), "\(file.lastPathComponent)") }
        }
    }

    @Test func edgeCases() throws {
        let valid: [String] = [
            "0", "-0", "1e3", "1E+3", "-1.5e-7", "123456789012345678901234567890", "0.1", "[]", "{}", " [ 1 , 2 ] ",
            #""\u00e9\ud83d\ude00\n\t\"\\\/""#, #"{"a":1,"a":2}"#, "\"é😀\"", "[true,false,null]",
            #"{"nested":[[[{"x":[1.25]}]]]}"#, "1.7976931348623157e308", "5e-324",
        ]
        for text in valid {
            let data = Data(text.utf8)
            #expect(Self.fast(data) != nil, "\(text)")
            #expect(Self.fast(data) == Self.foundation(data), "\(text)")
        }
        let invalid: [String] = [
            "", " ", "01", "1.", ".5", "+1", "1e", "-", "[1,]", "{\"a\":1,}", "{a:1}", "[1 2]", "\"\\x\"", "\"\u{01}\"",
            "nul", "truex", "Nan", "Infinit", "-Inf", "1e999", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "[", "{\"a\"",
            "\"abc", "[1]]", "{\"a\" 1}",
        ]
        for text in invalid { #expect(Self.fast(Data(text.utf8)) == nil, "\(text)") }
        // Too deep for either reader: refused, not a stack overflow.
        #expect(Self.fast(Data((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8)) == nil)
        // Invalid UTF-8 inside a string.
        #expect(Self.fast(Data([0x22, 0xFF, 0x22])) == nil)
        // What the fast reader leaves (another encoding, a byte order mark) still parses through Foundation.
        let utf16 = "{\"a\":[1,2]}".data(using: .utf16)!
        #expect(try JSONValue.parse(utf16) == .object(["a": .array([.int(1), .int(2)])]))
        // Python's json module writes NaN and Infinity bare; Zarr fill values use them.
        #expect(try JSONValue.parse(Data("[NaN,Infinity,-Infinity]".utf8)).arrayValue?.compactMap(\.doubleValue).map(\.description)
                == ["nan", "inf", "-inf"])
        // Integers that fit stay exact; larger ones become doubles.
        #expect(try JSONValue.parse(Data("[-9223372036854775808,9223372036854775807,9223372036854775808]".utf8))
                == .array([.int(.min), .int(.max), .double(9223372036854775808)]))
        // Errors say where.
        #expect(throws: JSONError.self) { try JSONValue.parse(Data("[1, 2,, 3]".utf8)) }
        do { _ = try JSONValue.parse(Data("[1, 2,, 3]".utf8)) } catch { #expect(error.offset == 6, "\(error)") }
    }

    @Test func mutatedDocumentsNeverDisagree() throws {
        let seedFile = try #require(Self.sharedResponses.first)
        let seed = [UInt8](try Data(contentsOf: seedFile).prefix(3000))
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(bytes[Int.random(in: 0..<bytes.count, using: &rng)], at: i)
                }
            }
            let data = Data(bytes)
            let fast = Self.fast(data)
            if let fast {
                accepted += 1
                #expect(fast == Self.foundation(data), "a document the fast reader takes reads the same in Foundation")
            }
        }
        _ = accepted
    }

    @Test func writesCompactSortedJSON() {
        let value: JSONValue = .object(["b": .number(2), "a": .array([.number(1.5), .string("x/\"y\"\n"), .null, .bool(true)]),
                                        "limit": .number(100), "tiny": .number(1e-5)])
        let text = value.serialized(pretty: false)
        #expect(text == #"{"a":[1.5,"x/\"y\"\n",null,true],"b":2,"limit":100,"tiny":1e-05}"#)
        #expect(Self.foundation(Data(text.utf8)) == Self.numbersAsDoubles(value))
    }
}
