import Foundation
import JSON
import Testing

@Suite struct JSONValueTests {
    @Test func serialisationIsDeterministicAndSorted() {
        let value: JSONValue = ["b": 1, "a": [1, 2.5, "x"], "c": ["z": .null, "y": true]]
        #expect(value.serialized(pretty: false) == #"{"a":[1,2.5,"x"],"b":1,"c":{"y":true,"z":null}}"#)
        #expect(value.serialized() == """
            {
              "a": [1, 2.5, "x"],
              "b": 1,
              "c": {
                "y": true,
                "z": null
              }
            }

            """)
    }

    @Test func numbersAreStable() {
        let cases: [(JSONValue, String)] = [
            (.int(0), "0"), (.int(-7), "-7"), (.int(Int64.max), "9223372036854775807"),
            (.double(0), "0.0"), (.double(1), "1.0"), (.double(0.1), "0.1"), (.double(1e-5), "1e-05"),
            (.double(1.7976931348623157e308), "1.7976931348623157e+308"), (.double(-2.5), "-2.5"),
            (.double(.nan), "\"NaN\""), (.double(.infinity), "\"Infinity\""), (.double(-.infinity), "\"-Infinity\""),
        ]
        for (value, text) in cases { #expect(value.serialized(pretty: false) == text) }
    }

    @Test func doublesRoundTripExactly() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let value = Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF)
            let parsed = try JSONValue.parse(JSONValue.double(value).data(pretty: false))
            #expect(parsed == .double(value))
        }
    }

    @Test func parseKeepsIntegersApartFromDoubles() throws {
        let text = #"{"i": 3, "d": 3.0, "e": 1e3, "n": -0, "s": "a\"\u00e9\ud83d\ude00\n", "nan": NaN, "l": [true, false, null]}"#
        let value = try JSONValue.parse(Data(text.utf8))
        #expect(value["i"] == .int(3))
        #expect(value["d"] == .double(3))
        #expect(value["e"] == .double(1000))
        #expect(value["n"] == .int(0))
        #expect(value["s"] == .string("a\"é😀\n"))
        #expect(value["nan"]?.doubleValue?.isNaN == true)
        #expect(value["l"] == [true, false, .null])
    }

    @Test func serialiseThenParseIsIdentity() throws {
        let value: JSONValue = ["k\u{1}\"\\": ["nested": [[], [:], [1, [2, ["x": "y\t"]]]]], "n": -12.75]
        #expect(try JSONValue.parse(value.data()) == value)
        #expect(try JSONValue.parse(value.data(pretty: false)) == value)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "01x", "[1] x", "\"\u{1}\"", "\"\\ud800\"", "1e999"])
    func parseRejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(Data(text.utf8)) }
    }

    @Test func deepNestingIsRejectedNotACrash() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONError.self) { try JSONValue.parse(Data(text.utf8)) }
    }

    @Test func codableMatchesFoundation() throws {
        let value: JSONValue = ["a": 1, "b": [true, "x", 2.5], "c": .null]
        let encoded = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: encoded) == value)
    }
}
