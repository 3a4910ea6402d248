// libFuzzer entry point for the Icechunk metadata readers: the object envelope (header and zstd
// frame), the FlatBuffers decoders of repo, snapshot, manifest and transaction log, and the
// FlexBuffers values. Compiled with the format files of Sources/Icechunk by
// scripts/fuzz/run-icechunk (not part of any SwiftPM target).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // The input as a FlatBuffer of each kind: what decodes must survive a re-encode unchanged.
    if let r = try? Codec.decodeRepo(bytes) {
        let again = try! Codec.decodeRepo(try! Codec.encodeRepo(r))
        precondition(again == r, "repo round trip changed it")
    }
    if let s = try? Codec.decodeSnapshot(bytes) {
        precondition(try! Codec.decodeSnapshot(Codec.encodeSnapshot(s)) == s, "snapshot round trip changed it")
    }
    if let m = try? Codec.decodeManifest(bytes) {
        precondition(try! Codec.decodeManifest(Codec.encodeManifest(m)) == m, "manifest round trip changed it")
    }
    if let t = try? Codec.decodeTransactionLog(bytes) {
        precondition(try! Codec.decodeTransactionLog(Codec.encodeTransactionLog(t)) == t, "transaction log round trip changed it")
    }
    if let v = try? FlexBuffers.decode(bytes), !hasNaN(v) {
        // The encoder writes a non-negative int as a uint (as icechunk does): same JSON value.
        precondition(normalised(try! FlexBuffers.decode(FlexBuffers.encode(v))) == normalised(v), "flexbuffer round trip changed it")
    }
    // The input as a whole object file (header, then a zstd frame), capped small: a bomb
    // must be refused, not inflated.
    let file = Data(bytes)
    for type in [ObjectFile.FileType.repoInfo, .snapshot, .manifest, .transactionLog] {
        if let (_, fb) = try? ObjectFile.decode(file, expect: type) {
            _ = try? Codec.decodeRepo(fb)
            _ = try? Codec.decodeSnapshot(fb)
        }
    }
    _ = try? ObjectFile.decompress(bytes, limit: 1 << 20)
    return 0
}

private func normalised(_ v: MetadataValue) -> MetadataValue {
    switch v {
    case .int(let i) where i >= 0: return .uint(UInt64(i))
    case .array(let a): return .array(a.map(normalised))
    case .object(let o): return .object(o.mapValues(normalised))
    default: return v
    }
}

private func hasNaN(_ v: MetadataValue) -> Bool {
    switch v {
    case .double(let d): return d.isNaN
    case .array(let a): return a.contains(where: hasNaN)
    case .object(let o): return o.values.contains(where: hasNaN)
    default: return false
    }
}
