import CubeStore
import Foundation
import GDALKit

/// Scene hrefs `s3://bucket/key` are read through GDAL's `/vsis3/`. GDAL reads the standard AWS
/// variables and files itself (credentials, AWS_REGION, AWS_PROFILE, AWS_NO_SIGN_REQUEST,
/// AWS_REQUEST_PAYER); GDAL 3.6 does not know `AWS_ENDPOINT_URL`, so a custom endpoint is
/// translated to its own settings here, with path-style addressing like the cube's S3 store.
enum S3Reads {
    static func configure(_ aws: AWSEnvironment) {
        guard let endpoint = aws.endpoint, let host = endpoint.host else { return }
        let hostPort = endpoint.port.map { "\(host):\($0)" } ?? host
        GDAL.setConfig("AWS_S3_ENDPOINT", hostPort)
        GDAL.setConfig("AWS_HTTPS", endpoint.scheme?.lowercased() == "https" ? "YES" : "NO")
        GDAL.setConfig("AWS_VIRTUAL_HOSTING", aws.pathStyle ? "FALSE" : "TRUE")
        if aws.region != "us-east-1" || ProcessInfo.processInfo.environment["AWS_REGION"] == nil {
            GDAL.setConfig("AWS_REGION", aws.region)
        }
    }
}
