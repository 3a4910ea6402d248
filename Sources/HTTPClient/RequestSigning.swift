/// How a request is signed. Only the hook exists for now: the curl transport hands AWS SigV4
/// to libcurl (`CURLOPT_AWS_SIGV4`), which the S3 store will use later.
public enum RequestSigning: Sendable {
    /// `provider` is libcurl's form, e.g. `aws:amz:us-east-1:s3`.
    case awsSigV4(provider: String, accessKeyID: String, secretAccessKey: String, sessionToken: String?)
}
