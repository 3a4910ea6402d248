import Foundation

/// Runs the Python consumer checks of Tests/python/consumers with the project's venv.
/// The venv is part of the test environment (scripts/requirements.txt): when it is missing the
/// tests fail with a message saying how to create it rather than silently passing.
enum PythonConsumers {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let python = repository.appendingPathComponent(".venv/bin/python").path
    static let scripts = repository.appendingPathComponent("Tests/python/consumers")
    static let consumersDoc = repository.appendingPathComponent("docs/consumers.md").path

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `script` with `arguments`; returns its output, or throws with the output on failure.
    @discardableResult
    static func run(_ script: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw Failure(description: "no Python venv at \(python): create it with `python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt`")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [scripts.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = repository
        // One pipe for both streams: reading two pipes one after the other can deadlock.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw Failure(description: "\(script) \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus)):\n\(text)")
        }
        return text
    }
}
