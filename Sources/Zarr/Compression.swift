/// How chunks are compressed after the little-endian `bytes` serialisation.
public enum Compression: Sendable, Equatable {
    /// Blosc (c-blosc 1.x frame) with the zstd compressor; `shuffle` defaults to bitshuffle.
    case bloscZstd(level: Int, shuffle: BloscShuffle = .bitshuffle)
    /// A single zstd frame with its content size recorded (what numcodecs' Zstd writes).
    case zstd(level: Int)
    /// Raw little-endian bytes.
    case none

    /// The default for cube arrays: blosc + zstd level 5, bitshuffle.
    public static let standard = Compression.bloscZstd(level: 5)
}

/// Blosc's pre-compression shuffle. Raw values are c-blosc's `doshuffle` and v2's "shuffle".
public enum BloscShuffle: Int, Sendable, Equatable, CaseIterable {
    case noshuffle = 0
    case shuffle = 1
    case bitshuffle = 2

    /// The v3 blosc codec's name for it.
    public var v3Name: String {
        switch self {
        case .noshuffle: return "noshuffle"
        case .shuffle: return "shuffle"
        case .bitshuffle: return "bitshuffle"
        }
    }

    public init?(v3Name: String) {
        guard let match = BloscShuffle.allCases.first(where: { $0.v3Name == v3Name }) else { return nil }
        self = match
    }
}
