import Foundation
import Synchronization

/// How a run talks to whoever watches it: a live bar on a terminal, plain lines in logs,
/// JSON lines for scripts, or nothing but the final summary.
public enum DisplayMode: String, Sendable {
    case bar, lines, json, quiet
}

/// Renders run events and progress. Thread safe (events come from feeder threads).
public final class ProgressDisplay: Sendable {
    public let mode: DisplayMode
    /// Held while writing, so lines and the bar never tear.
    private let lock = Mutex<DispatchSourceTimer?>(nil)
    private let snapshot: @Sendable () -> JobQueue.Progress

    public init(mode: DisplayMode, snapshot: @escaping @Sendable () -> JobQueue.Progress) {
        self.mode = mode
        self.snapshot = snapshot
    }

    public static func automaticMode() -> DisplayMode {
        isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb" ? .bar : .lines
    }

    public func start() {
        guard mode == .bar else { return }
        lock.withLock { timer in
            let t = DispatchSource.makeTimerSource(queue: .global())
            t.schedule(deadline: .now(), repeating: .milliseconds(500))
            t.setEventHandler { [weak self] in self?.redraw() }
            t.resume()
            timer = t
        }
    }

    public func stop() {
        lock.withLock { timer in
            timer?.cancel()
            timer = nil
            if mode == .bar {
                redrawLocked()
                FileHandle.standardError.write(Data("\n".utf8))
            }
        }
    }

    public func event(_ e: RunEvent) {
        lock.withLock { _ in write(e) }
    }

    private func write(_ e: RunEvent) {
        let p = snapshot()
        switch mode {
        case .quiet:
            return
        case .json:
            var object: [String: Any] = ["done": p.done, "failed": p.failed, "total": p.total]
            switch e {
            case .done(let job, let r):
                object["event"] = "done"; object["job"] = job; object["scenes_used"] = r.scenes_used
                object["valid_pixels"] = r.valid_pixels; object["seconds"] = r.seconds.values.reduce(0, +)
            case .retrying(let job, let attempt, let error):
                object["event"] = "retrying"; object["job"] = job; object["attempt"] = attempt; object["error"] = error
            case .failed(let job, let attempts, let error):
                object["event"] = "failed"; object["job"] = job; object["attempts"] = attempts; object["error"] = error
            }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
        case .lines:
            FileHandle.standardError.write(Data((line(e, p) + "\n").utf8))
        case .bar:
            switch e {
            case .done: break
            case .retrying, .failed:
                FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line(e, p) + "\n").utf8))
                redrawLocked()
            }
        }
    }

    /// A message that must not be torn by the bar.
    public func note(_ text: String) {
        lock.withLock { _ in writeNote(text) }
    }

    private func writeNote(_ text: String) {
        if mode == .json {
            if let data = try? JSONSerialization.data(withJSONObject: ["event": "note", "message": text]) {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
            return
        }
        if mode == .quiet { return }
        FileHandle.standardError.write(Data(((mode == .bar ? "\r\u{1B}[2K" : "") + text + "\n").utf8))
        if mode == .bar { redrawLocked() }
    }

    private func line(_ e: RunEvent, _ p: JobQueue.Progress) -> String {
        let count = "[\(p.finished)/\(p.total)]"
        switch e {
        case .done(let job, let r):
            let secs = r.seconds.values.reduce(0, +)
            return String(format: "%@ done %@: %d scenes used, %d valid pixels, %.1f s", count, job, r.scenes_used, r.valid_pixels, secs)
        case .retrying(let job, let attempt, let error):
            return "\(count) retrying \(job) (attempt \(attempt) failed): \(error)"
        case .failed(let job, let attempts, let error):
            return "\(count) FAILED \(job) after \(attempts) attempt(s): \(error)"
        }
    }

    private func redraw() {
        lock.withLock { _ in redrawLocked() }
    }

    private func redrawLocked() {
        let p = snapshot()
        let elapsed = max(0.001, Date().timeIntervalSince(p.startedAt))
        let rate = Double(p.done) / elapsed * 60
        let width = 30
        let filled = p.total == 0 ? width : Int(Double(width) * Double(p.finished) / Double(p.total))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        var eta = "—"
        if p.done > 0 && p.finished < p.total {
            eta = Self.duration(Double(p.total - p.finished) / (Double(p.done) / elapsed))
        }
        let text = String(format: "%@ %d/%d jobs · %.1f jobs/min · ETA %@ · %d failed%@", bar, p.finished, p.total, rate, eta,
                          p.failed, p.stopping ? " · stopping" : "")
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
