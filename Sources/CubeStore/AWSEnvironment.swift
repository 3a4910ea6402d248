import Foundation

/// AWS settings as the AWS CLI and SDKs find them: environment variables first, then the
/// shared config and credentials files (`AWS_PROFILE` or `default`).
///
/// Credentials: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, else the
/// profile in `AWS_SHARED_CREDENTIALS_FILE` (~/.aws/credentials) or `AWS_CONFIG_FILE`
/// (~/.aws/config). None found, or `AWS_NO_SIGN_REQUEST=YES`: anonymous (public buckets).
/// Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else us-east-1.
/// Endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else AWS.
public struct AWSEnvironment: Sendable, Equatable {
    public struct Credentials: Sendable, Equatable {
        public var accessKeyID: String
        public var secretAccessKey: String
        public var sessionToken: String?
    }

    public var credentials: Credentials?
    public var region: String
    /// A custom endpoint (S3-compatible servers); nil = AWS itself.
    public var endpoint: URL?
    /// Path-style URLs (`endpoint/bucket/key`): always for custom endpoints, unless
    /// `AWS_S3_ADDRESSING_STYLE=virtual`; virtual-hosted for AWS.
    public var pathStyle: Bool
    /// `AWS_REQUEST_PAYER=requester`: requester-pays buckets (e.g. Landsat on AWS).
    public var requesterPays: Bool
    public var profile: String

    public static func current(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> AWSEnvironment {
        let profile = nonEmpty(env["AWS_PROFILE"]) ?? nonEmpty(env["AWS_DEFAULT_PROFILE"]) ?? "default"
        let home = env["HOME"] ?? NSHomeDirectory()
        let credentialsFile = nonEmpty(env["AWS_SHARED_CREDENTIALS_FILE"]) ?? home + "/.aws/credentials"
        let configFile = nonEmpty(env["AWS_CONFIG_FILE"]) ?? home + "/.aws/config"
        let credSection = INIFile.section(profile, in: credentialsFile)
        let configSection = INIFile.section(profile == "default" ? "default" : "profile \(profile)", in: configFile)
            ?? INIFile.section(profile, in: configFile)
        if profile != "default", nonEmpty(env["AWS_PROFILE"]) != nil, credSection == nil, configSection == nil,
           nonEmpty(env["AWS_ACCESS_KEY_ID"]) == nil {
            throw StoreError.unsupported(location: "AWS_PROFILE=\(profile)",
                                         reason: "no such profile in \(credentialsFile) or \(configFile)")
        }

        var credentials: Credentials?
        if let key = nonEmpty(env["AWS_ACCESS_KEY_ID"]), let secret = nonEmpty(env["AWS_SECRET_ACCESS_KEY"]) {
            credentials = Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: nonEmpty(env["AWS_SESSION_TOKEN"]))
        } else {
            for section in [credSection, configSection] {
                if let s = section, let key = nonEmpty(s["aws_access_key_id"]), let secret = nonEmpty(s["aws_secret_access_key"]) {
                    credentials = Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: nonEmpty(s["aws_session_token"]))
                    break
                }
            }
        }
        if let flag = env["AWS_NO_SIGN_REQUEST"], ["yes", "true", "1"].contains(flag.lowercased()) { credentials = nil }

        let region = nonEmpty(env["AWS_REGION"]) ?? nonEmpty(env["AWS_DEFAULT_REGION"]) ?? nonEmpty(configSection?["region"]) ?? "us-east-1"
        var endpoint: URL?
        if let text = nonEmpty(env["AWS_ENDPOINT_URL_S3"]) ?? nonEmpty(env["AWS_ENDPOINT_URL"]) ?? nonEmpty(configSection?["endpoint_url"]) {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  url.host != nil else {
                throw StoreError.unsupported(location: text, reason: "the S3 endpoint must be an http(s) URL")
            }
            endpoint = url
        }
        let style = env["AWS_S3_ADDRESSING_STYLE"]?.lowercased()
        let pathStyle = endpoint != nil ? style != "virtual" : style == "path"
        let payer = env["AWS_REQUEST_PAYER"]?.lowercased() == "requester"
        return AWSEnvironment(credentials: credentials, region: region, endpoint: endpoint, pathStyle: pathStyle,
                              requesterPays: payer, profile: profile)
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s = s?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        return s
    }
}

/// The few lines of INI the AWS files use: `[section]` and `key = value`.
enum INIFile {
    static func section(_ name: String, in path: String) -> [String: String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var current: String?
        var found: [String: String]?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if current == name && found == nil { found = [:] }
                continue
            }
            guard current == name, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            found?[key] = value
        }
        return found
    }
}
