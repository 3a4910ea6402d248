import CubeStore

/// Store keys of chunks.
///   v3 default encoding, separator "/": `<array>/c/<i0>/<i1>/...`; a 0-d array's only chunk is `<array>/c`.
///   v2, dimension_separator ".":        `<array>/<i0>.<i1>...`;     a 0-d array's only chunk is `<array>/0`.
public enum ChunkKey {
    public static func key(format: ZarrFormat, arrayPath: String, chunkIndex: [Int]) -> String {
        let name: String
        switch format {
        case .v3:
            name = (["c"] + chunkIndex.map(String.init)).joined(separator: "/")
        case .v2:
            name = chunkIndex.isEmpty ? "0" : chunkIndex.map(String.init).joined(separator: ".")
        }
        return StoreKey.join(arrayPath, name)
    }

    /// The chunk key after checking that `chunkIndex` lies inside the array's chunk grid.
    public static func key(format: ZarrFormat, arrayPath: String, metadata: ArrayMetadata, chunkIndex: [Int]) throws -> String {
        let grid = metadata.chunkGridShape
        guard chunkIndex.count == grid.count,
              zip(chunkIndex, grid).allSatisfy({ index, count in index >= 0 && index < count })
        else {
            throw ZarrError.invalidMetadata("chunk index \(chunkIndex) is outside the chunk grid \(grid) of \(arrayPath.isEmpty ? "/" : arrayPath)")
        }
        return key(format: format, arrayPath: arrayPath, chunkIndex: chunkIndex)
    }
}
