import CubeStore
import Foundation
import Testing
@testable import Zarr

/// Writes the TestCube hierarchy with the Swift API and reads it back with zarr-python 3,
/// xarray, tensorstore and (v2) GDAL through python/check_store.py.
/// Skipped, with a message, when the project's Python venv is missing.
@Suite struct PythonCrossCheckTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let python = repository.appendingPathComponent(".venv/bin/python").path
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("python/check_store.py").path
    static let venvAvailable = FileManager.default.isExecutableFile(atPath: python)

    @Test(.enabled(if: venvAvailable, "no Python venv at .venv (see scripts/requirements.txt); zarr-python cross-check skipped"),
          arguments: ZarrFormat.allCases)
    func zarrPythonReadsWhatWeWrite(_ format: ZarrFormat) throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let storePath = folder.path + "/cube.zarr"
        _ = try TestCube.write(to: LocalStore(root: storePath, durable: false), format: format)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [Self.script, storePath, String(format.rawValue)]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read before waiting so a chatty child cannot block on a full pipe.
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "check_store.py failed:\n\(stdout)\n\(stderr)")
        #expect(stdout.hasPrefix("OK v\(format.rawValue)"), "\(stdout)")
        print("check_store.py:", stdout.trimmingCharacters(in: .whitespacesAndNewlines))  // which readers ran
    }
}
