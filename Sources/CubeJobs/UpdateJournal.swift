import CubeCore
import Foundation

/// `_cube/update.json`: an update under way. Written before `cube update` changes the index or
/// any done record, removed when its rebuilds are done; while it exists `cube run` refuses (the
/// index and the done records may disagree) and `cube update` run again finishes the work.
public struct UpdateJournal: Codable, Equatable, Sendable {
    public static let key = StoreKeys.updateJournal
    public var started: String
    public var bins: [String]

    public init(started: String, bins: [String]) {
        self.started = started
        self.bins = bins
    }
}
