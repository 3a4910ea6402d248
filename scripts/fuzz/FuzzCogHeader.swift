// libFuzzer entry point for CogHeader.parse and the JSON form of CogHeader. Compiled together
// with Sources/TiffIndex/*.swift by scripts/fuzz/run (not part of any SwiftPM target).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // Unknown file size.
    checkParse(bytes, fileSize: nil)
    // The input as the whole file, and a file size taken from the last 4 bytes (which may be
    // smaller than the input, or larger: offsets past the prefix but within the file).
    checkParse(bytes, fileSize: UInt64(size))
    if size >= 4 {
        let tail = (0..<4).reduce(UInt64(0)) { $0 << 8 | UInt64(data[size - 4 + $1]) }
        checkParse(bytes, fileSize: tail)
    }
    // The stored form: JSON, which must validate when it decodes at all.
    if size > 0, data[0] == UInt8(ascii: "{") {
        let json = Data(bytes: data, count: size)
        if let h = try? JSONDecoder().decode(CogHeader.self, from: json) {
            do { try h.validate() } catch { fatalError("decoded an invalid header: \(error)") }
            let again = try! JSONDecoder().decode(CogHeader.self, from: try! JSONEncoder().encode(h))
            precondition(again == h, "JSON round trip changed the header")
        }
    }
    return 0
}

private func checkParse(_ bytes: UnsafeRawBufferPointer, fileSize: UInt64?) {
    let available = min(UInt64(bytes.count), fileSize ?? UInt64.max)
    do {
        switch try CogHeader.parse(bytes, fileSize: fileSize) {
        case .header(let h):
            do { try h.validate() } catch { fatalError("parse returned an invalid header: \(error)") }
            if let fileSize {
                for (o, n) in zip(h.blockOffsets, h.blockByteCounts) {
                    precondition(o + n <= fileSize, "block past the file size")
                }
            }
            // The header round-trips through its stored form.
            let json = try! JSONEncoder().encode(h)
            let decoded = try! JSONDecoder().decode(CogHeader.self, from: json)
            precondition(decoded == h, "JSON round trip changed the header")
        case .needMore(let n):
            precondition(UInt64(n) > available, "needMore(\(n)) with \(available) bytes given")
            precondition(n <= CogHeader.maxHeaderBytes, "needMore(\(n)) beyond the cap")
            if let fileSize { precondition(UInt64(n) <= fileSize, "needMore(\(n)) past the file size \(fileSize)") }
        }
    } catch is CogHeaderError {
    } catch {
        fatalError("unexpected error type: \(error)")
    }
}
