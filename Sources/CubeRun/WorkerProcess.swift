import Foundation
import Synchronization

/// A `cube worker STORE --serve` child process: job names go in on its standard input, one per
/// line; one JSON line per job comes back on its standard output. The process keeps its GDAL
/// caches, HTTP connections and opened scenes between jobs. Closing its input ends it after
/// the job it is running, so a coordinator that dies never leaves a job half done.
final class WorkerProcess {
    struct Died: Error, CustomStringConvertible {
        let description: String
    }

    let process = Process()
    private let input: FileHandle
    private let output: Int32
    private var buffer = Data()
    private let errorTail = ErrorTail()

    init(executable: String, arguments: [String]) throws {
        let stdinPipe = Pipe(), stdoutPipe = Pipe(), stderrPipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        try process.run()
        input = stdinPipe.fileHandleForWriting
        output = stdoutPipe.fileHandleForReading.fileDescriptor
        let tail = errorTail
        let errFD = stderrPipe.fileHandleForReading.fileDescriptor
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(errFD, &chunk, chunk.count)
                if n <= 0 { break }
                tail.append(chunk[0..<n])
            }
        }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Sends one job and waits for its result line.
    func run(job: String) throws -> String {
        let line = WorkerProtocol.requestLine(job: job)
        do {
            try input.write(contentsOf: line)
        } catch {
            throw Died(description: diedMessage())
        }
        guard let reply = readLine() else { throw Died(description: diedMessage()) }
        return reply
    }

    private func readLine() -> String? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                return String(decoding: line, as: UTF8.self)
            }
            let n = read(output, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    private func diedMessage() -> String {
        process.waitUntilExit()
        let how = process.terminationReason == .uncaughtSignal
            ? "killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
        let tail = errorTail.text.split(separator: "\n").suffix(3).joined(separator: " | ")
        return "worker process \(process.processIdentifier) \(how)\(tail.isEmpty ? "" : ": \(tail)")"
    }

    /// Ends the worker after its current job.
    func finish() {
        try? input.close()
        process.waitUntilExit()
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// The last few KiB a worker wrote on standard error, for the message when it dies.
private final class ErrorTail: Sendable {
    private let data = Mutex(Data())

    func append(_ bytes: ArraySlice<UInt8>) {
        data.withLock { data in
            data.append(contentsOf: bytes)
            if data.count > 4096 { data.removeFirst(data.count - 4096) }
        }
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
