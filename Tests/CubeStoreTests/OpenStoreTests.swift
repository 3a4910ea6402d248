import Foundation
import Testing
@testable import CubeStore

@Suite struct OpenStoreTests {
    @Test func pathsOpenLocalStores() throws {
        let absolute = try #require(try openStore("/data/cube.zarr") as? LocalStore)
        #expect(absolute.root == "/data/cube.zarr")
        let relative = try #require(try openStore("out/cube.zarr") as? LocalStore)
        #expect(relative.root == FileManager.default.currentDirectoryPath + "/out/cube.zarr")
        let url = try #require(try openStore("file:///data/cube.zarr") as? LocalStore)
        #expect(url.root == "/data/cube.zarr")
    }

    @Test func s3URLsOpenS3Stores() throws {
        let aws = AWSEnvironment(credentials: nil, region: "eu-central-1", endpoint: nil, pathStyle: false,
                                 requesterPays: false, profile: "default")
        let store = try S3Store(location: "s3://my-bucket/cubes/po.zarr/", aws: aws)
        #expect(store.bucket == "my-bucket" && store.prefix == "cubes/po.zarr")
        #expect(store.description == "s3://my-bucket/cubes/po.zarr")
        let root = try S3Store(location: "s3://my-bucket", aws: aws)
        #expect(root.prefix == "")
        for bad in ["s3://", "s3://UPPER/x", "s3://a/x", "s3://bucket_underscore/x", "s3://-dash/x", "s3://bucket/../x"] {
            #expect(throws: StoreError.self, "\(bad)") { _ = try S3Store(location: bad, aws: aws) }
        }
    }

    @Test func otherSchemesAndEmptyLocationsAreRefused() {
        for location in ["gs://bucket/x", "", "file://relative", "https://example.com/cube.zarr"] {
            #expect {
                _ = try openStore(location)
            } throws: { error in
                guard case let StoreError.unsupported(named, _) = error else { return false }
                return named == location
            }
        }
    }

    @Test func awsSettingsComeFromTheEnvironmentThenTheFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        [default]
        aws_access_key_id = DEFAULTKEY
        aws_secret_access_key = defaultsecret

        [builder]
        aws_access_key_id = BUILDERKEY
        aws_secret_access_key = buildersecret
        aws_session_token = token123
        """.write(to: dir.appendingPathComponent("credentials"), atomically: true, encoding: .utf8)
        try """
        [default]
        region = eu-west-1
        [profile builder]
        region = eu-central-1
        endpoint_url = http://minio.local:9000
        """.write(to: dir.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        let files = ["AWS_SHARED_CREDENTIALS_FILE": dir.appendingPathComponent("credentials").path,
                     "AWS_CONFIG_FILE": dir.appendingPathComponent("config").path, "HOME": dir.path]

        let def = try AWSEnvironment.current(files)
        #expect(def.credentials?.accessKeyID == "DEFAULTKEY" && def.region == "eu-west-1" && def.endpoint == nil)
        #expect(!def.pathStyle)

        let builder = try AWSEnvironment.current(files.merging(["AWS_PROFILE": "builder"]) { $1 })
        #expect(builder.credentials == .init(accessKeyID: "BUILDERKEY", secretAccessKey: "buildersecret", sessionToken: "token123"))
        #expect(builder.region == "eu-central-1" && builder.endpoint?.absoluteString == "http://minio.local:9000")
        #expect(builder.pathStyle)

        // Environment variables win over the files.
        let env = try AWSEnvironment.current(files.merging([
            "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_REGION": "us-west-2",
            "AWS_ENDPOINT_URL": "https://s3.example.org", "AWS_REQUEST_PAYER": "requester"]) { $1 })
        #expect(env.credentials?.accessKeyID == "ENVKEY" && env.region == "us-west-2" && env.requesterPays)
        #expect(env.endpoint?.host == "s3.example.org")

        // Anonymous on request; an unknown profile is an error, not a silent fallback.
        #expect(try AWSEnvironment.current(files.merging(["AWS_NO_SIGN_REQUEST": "YES"]) { $1 }).credentials == nil)
        #expect(throws: StoreError.self) { _ = try AWSEnvironment.current(files.merging(["AWS_PROFILE": "nope"]) { $1 }) }
        #expect(throws: StoreError.self) { _ = try AWSEnvironment.current(files.merging(["AWS_ENDPOINT_URL": "ftp://x"]) { $1 }) }
    }

    @Test func s3ListingXMLIsDecoded() {
        let xml = "<ListBucketResult><Contents><Key>cube/a&amp;b/zarr.json</Key></Contents><Contents><Key>cube/c</Key></Contents><IsTruncated>true</IsTruncated><NextContinuationToken>t&#x2F;1</NextContinuationToken></ListBucketResult>"
        #expect(XMLText.all("Contents", in: xml).compactMap { XMLText.first("Key", in: $0) } == ["cube/a&b/zarr.json", "cube/c"])
        #expect(XMLText.first("NextContinuationToken", in: xml) == "t/1")
        #expect(S3Store.encode("a b/ü~") == "a%20b%2F%C3%BC~")
    }
}
