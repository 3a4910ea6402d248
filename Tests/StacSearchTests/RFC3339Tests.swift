import Foundation
import StacItems
import Testing
@testable import StacSearch

@Suite struct RFC3339Tests {
    @Test func parsesFractionsAndOffsets() throws {
        let z = try #require(RFC3339.parse("2024-03-05T10:27:43.588000Z"))
        #expect(abs(z.timeIntervalSince1970 - 1709634463.588) < 1e-6)
        #expect(RFC3339.parse("2024-03-05T12:27:43.588+02:00") == RFC3339.parse("2024-03-05T10:27:43.588Z"))
        #expect(RFC3339.parse("2024-03-05t05:27:43.588-05:00") == RFC3339.parse("2024-03-05T10:27:43.588Z"))
        #expect(RFC3339.parse("1970-01-01T00:00:00Z")?.timeIntervalSince1970 == 0)
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
    }

    @Test(arguments: ["2024-03-05", "2024-03-05T10:27:43", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
                      "2024-03-05T10:27:43.Z", "2024-03-05T10:27:43Zjunk", ""])
    func rejectsMalformed(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test func formatsUTC() throws {
        #expect(RFC3339.format(try #require(RFC3339.parse("2024-03-01T00:00:00Z"))) == "2024-03-01T00:00:00Z")
        #expect(RFC3339.format(try #require(RFC3339.parse("2024-03-31T23:59:59.999Z"))) == "2024-03-31T23:59:59.999Z")
        #expect(RFC3339.format(try #require(RFC3339.parse("1969-12-31T23:00:00+00:00"))) == "1969-12-31T23:00:00Z")
    }
}
