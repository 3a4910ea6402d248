import GDALKit
import HTTPClient
@testable import SceneWarp
import Testing

/// A read failure is transient (fail the job, retry it) or not (skip the scene), decided by the
/// type of the error where it is raised; GDAL, which reports only text, is read once in GDALKit.
@Suite struct TransienceTests {
    @Test func gdalNetworkWordingIsTransientAndDataFailuresAreNot() {
        for message in [
            "CURL error: Failed to connect to 127.0.0.1 port 1: Couldn't connect to server",
            "HTTP response code: 503",
            "CURL error: Operation timed out after 30000 milliseconds",
            "CURL error: Received HTTP/0.9 when not allowed",
            "Request for 100206-149210 failed with response_code=0 / TIFFFillTile:Read error",
            "Request for 0-16383 failed with response_code=503",
            "CURL error: Recv failure: Connection reset by peer / TIFFReadEncodedTile() failed.",
        ] {
            #expect(GDALError.isNetworkFailure(message), "\(message)")
        }
        for message in [
            "Request for 0-16383 failed with response_code=404", "HTTP response code: 404",
            "TIFFReadEncodedTile() failed.", "No such file or directory",
        ] {
            #expect(!GDALError.isNetworkFailure(message), "\(message)")
        }
    }

    @Test func wrappedErrorsKeepTheirCauseClass() {
        func wrapped(_ cause: any Error) -> Bool {
            SceneWarpError(.read, href: "https://x/a.tif", "cannot read band 1", cause: cause).isTransient
        }
        #expect(wrapped(GDALError("reset", transient: true)))
        #expect(!wrapped(GDALError("not a TIFF")))
        #expect(wrapped(TransportError(code: 28, message: "timed out", isRetryable: true)))
        #expect(!wrapped(TransportError(code: 3, message: "malformed URL", isRetryable: false)))
        #expect(wrapped(TileDecodeError("prefetch", transient: RangeOutcome.failed("no answer", transient: true).isTransient)))
        #expect(!wrapped(TileDecodeError("prefetch", transient: RangeOutcome.failed("404", transient: false).isTransient)))
        #expect(!wrapped(TileDecodeError("bad deflate stream", decodeFailure: true)))
        // Wrapping twice keeps the class; no cause is not transient.
        #expect(wrapped(SceneWarpError(.open, href: "h", "r", cause: GDALError("503", transient: true))))
        #expect(!SceneWarpError(.read, href: "h", "r").isTransient)
    }
}
