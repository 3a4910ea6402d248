import ArgumentParser
import CubeStore
import Foundation
import Icechunk

/// The Icechunk repository behind a store location, or a usage error naming what the command needs.
func openRepository(_ location: String, command: String) throws -> IcechunkStore {
    let store = try openStore(location, access: .read(version: nil))
    guard let icechunk = store as? IcechunkStore else {
        throw UsageError("\(location) keeps no versions: `cube \(command)` needs an Icechunk store (icechunk:PATH or icechunk:s3://bucket/prefix)")
    }
    return icechunk
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the commits of an Icechunk cube (newest first): id, time, message, tags.",
        discussion: "Every `cube init`, build, append and update of an icechunk: store ends in one commit on branch main (with `cube run --commit-each-bin`, one per completed time bin). Any id or tag shown here can be given to `cube status --at`, `cube preview --at` and `cube serve --at`, or to icechunk-python's `readonly_session(snapshot_id=…)`."
    )

    @Argument(help: "The cube's store (icechunk:PATH or icechunk:s3://bucket/prefix).")
    var store: String

    @Flag(help: "Print the commits as JSON lines.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let repo = try openRepository(store, command: "log").repository
            let tags = Dictionary(grouping: try repo.tags(), by: \.value).mapValues { $0.map(\.key).sorted() }
            let formatter = ISO8601DateFormatter()
            for commit in try repo.ancestry(branch: "main") {
                var metadata: [String: String] = [:]
                for item in commit.metadata {
                    if case .string(let s)? = try? item.value() { metadata[item.name] = s }
                }
                if json {
                    var line: [String: Any] = ["id": commit.id.description, "time": formatter.string(from: commit.time),
                                               "message": commit.message, "tags": tags[commit.id] ?? [], "metadata": metadata]
                    if let p = commit.parent { line["parent"] = p.description }
                    let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    let tagText = (tags[commit.id] ?? []).map { " [\($0)]" }.joined()
                    print("\(commit.id)  \(formatter.string(from: commit.time))  \(commit.message)\(tagText)")
                }
            }
        }
    }
}

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Name a version of an Icechunk cube (a month's release), so it can be read later by that name.",
        discussion: "Tags never move and a deleted tag's name is never reused (as in Icechunk). Without --at, tags the tip of main."
    )

    @Argument(help: "The cube's store (icechunk:PATH or icechunk:s3://bucket/prefix).")
    var store: String

    @Argument(help: "The tag's name.")
    var name: String

    @Option(help: "The version to tag: a snapshot id (see `cube log`), a tag or a branch. Default: the tip of main.")
    var at: String?

    func validate() throws {
        guard !name.isEmpty, !name.contains("/"), name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw ValidationError("the tag name must be non-empty, without \"/\", spaces or control characters")
        }
    }

    func run() throws {
        try runReportingErrors {
            let repo = try openRepository(store, command: "tag").repository
            let id = try at.map { try repo.resolve($0) } ?? repo.tip(branch: "main")
            do {
                try repo.tag(name, snapshot: id)
            } catch IcechunkError.alreadyExists {
                throw UsageError("tag \(name) exists already (tags never move; pick another name)")
            }
            print("tagged \(id) as \(name)")
        }
    }
}
