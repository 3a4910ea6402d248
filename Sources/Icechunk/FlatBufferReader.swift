/// A bounds-checked FlatBuffers reader for bytes that may be hostile: every offset, length and
/// vtable entry is checked against the buffer before it is followed, arithmetic cannot
/// overflow, and every failure is a thrown `IcechunkError.corrupt`, never a trap. Offsets to
/// tables, strings and vectors are unsigned and point forward, so reading follows no cycles;
/// a vector's length is bounded by the bytes that remain, so no allocation exceeds the input.
struct FlatBufferReader: Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ why: String) -> IcechunkError { .corrupt("flatbuffer: \(why)") }

    func check(_ position: Int, _ count: Int) throws {
        guard position >= 0, count >= 0, position <= bytes.count, count <= bytes.count - position else {
            throw fail("\(count) bytes at \(position) are outside the \(bytes.count)-byte buffer")
        }
    }

    func u8(_ p: Int) throws -> UInt8 { try check(p, 1); return bytes[p] }
    func u16(_ p: Int) throws -> UInt16 { try check(p, 2); return UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8 }
    func u32(_ p: Int) throws -> UInt32 {
        try check(p, 4)
        return UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
    }
    func i32(_ p: Int) throws -> Int32 { Int32(bitPattern: try u32(p)) }
    func u64(_ p: Int) throws -> UInt64 { UInt64(try u32(p)) | UInt64(try u32(p + 4)) << 32 }

    /// Follows the uoffset stored at `p`.
    func follow(_ p: Int) throws -> Int {
        let target = p + Int(try u32(p))
        try check(target, 0)
        return target
    }

    /// The root table, after checking the 4-byte file identifier.
    func root(identifier: String) throws -> Table {
        try check(0, 8)
        guard Array(bytes[4..<8]) == Array(identifier.utf8) else { throw fail("the file identifier is not \(identifier)") }
        return try table(at: follow(0))
    }

    func table(at position: Int) throws -> Table {
        try check(position, 4)
        let vtable = position - Int(try i32(position))
        try check(vtable, 4)
        let vtableSize = Int(try u16(vtable))
        let tableSize = Int(try u16(vtable + 2))
        guard vtableSize >= 4, vtableSize % 2 == 0 else { throw fail("vtable size \(vtableSize)") }
        try check(vtable, vtableSize)
        try check(position, tableSize)
        return Table(reader: self, position: position, vtable: vtable, vtableSize: vtableSize, tableSize: tableSize)
    }

    struct Table {
        let reader: FlatBufferReader
        let position: Int
        let vtable: Int
        let vtableSize: Int
        let tableSize: Int

        /// The absolute position of field `slot`, or nil when absent.
        func field(_ slot: Int, size: Int) throws -> Int? {
            let entry = 4 + 2 * slot
            guard entry + 2 <= vtableSize else { return nil }
            let offset = Int(try reader.u16(vtable + entry))
            if offset == 0 { return nil }
            guard offset + size <= tableSize else { throw reader.fail("field \(slot) lies outside its table") }
            return position + offset
        }

        func u8(_ slot: Int, default d: UInt8 = 0) throws -> UInt8 { try field(slot, size: 1).map { try reader.u8($0) } ?? d }
        func u16(_ slot: Int, default d: UInt16 = 0) throws -> UInt16 { try field(slot, size: 2).map { try reader.u16($0) } ?? d }
        func u32(_ slot: Int, default d: UInt32 = 0) throws -> UInt32 { try field(slot, size: 4).map { try reader.u32($0) } ?? d }
        func i32(_ slot: Int, default d: Int32 = 0) throws -> Int32 { try field(slot, size: 4).map { try reader.i32($0) } ?? d }
        func u64(_ slot: Int, default d: UInt64 = 0) throws -> UInt64 { try field(slot, size: 8).map { try reader.u64($0) } ?? d }

        /// An inline struct's bytes.
        func structBytes(_ slot: Int, size: Int) throws -> ArraySlice<UInt8>? {
            guard let p = try field(slot, size: size) else { return nil }
            return reader.bytes[p..<(p + size)]
        }

        func table(_ slot: Int) throws -> Table? {
            guard let p = try field(slot, size: 4) else { return nil }
            return try reader.table(at: reader.follow(p))
        }

        func string(_ slot: Int) throws -> String? {
            guard let p = try field(slot, size: 4) else { return nil }
            return try reader.string(at: reader.follow(p))
        }

        func vector(_ slot: Int, elementSize: Int) throws -> Vector? {
            guard let p = try field(slot, size: 4) else { return nil }
            return try reader.vector(at: reader.follow(p), elementSize: elementSize)
        }

        func bytes(_ slot: Int) throws -> [UInt8]? {
            guard let v = try vector(slot, elementSize: 1) else { return nil }
            return Array(reader.bytes[v.start..<(v.start + v.count)])
        }

        // Required fields: absent is corruption.
        func requiredTable(_ slot: Int, _ name: String) throws -> Table {
            guard let t = try table(slot) else { throw reader.fail("required \(name) is missing") }
            return t
        }
        func requiredString(_ slot: Int, _ name: String) throws -> String {
            guard let s = try string(slot) else { throw reader.fail("required \(name) is missing") }
            return s
        }
        func requiredVector(_ slot: Int, elementSize: Int, _ name: String) throws -> Vector {
            guard let v = try vector(slot, elementSize: elementSize) else { throw reader.fail("required \(name) is missing") }
            return v
        }
        func requiredStruct(_ slot: Int, size: Int, _ name: String) throws -> ArraySlice<UInt8> {
            guard let s = try structBytes(slot, size: size) else { throw reader.fail("required \(name) is missing") }
            return s
        }
    }

    struct Vector {
        let reader: FlatBufferReader
        /// Position of element 0.
        let start: Int
        let count: Int
        let elementSize: Int

        func position(_ i: Int) -> Int { start + i * elementSize }
        func table(_ i: Int) throws -> Table { try reader.table(at: reader.follow(position(i))) }
        func string(_ i: Int) throws -> String { try reader.string(at: reader.follow(position(i))) }
        func u32(_ i: Int) throws -> UInt32 { try reader.u32(position(i)) }
        func u16(_ i: Int) throws -> UInt16 { try reader.u16(position(i)) }
        func element(_ i: Int) -> ArraySlice<UInt8> { reader.bytes[position(i)..<(position(i) + elementSize)] }
    }

    func vector(at p: Int, elementSize: Int) throws -> Vector {
        let count = Int(try u32(p))
        // A count the remaining bytes cannot hold is corruption (and never allocated).
        let (total, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw fail("vector length \(count) overflows") }
        try check(p + 4, total)
        return Vector(reader: self, start: p + 4, count: count, elementSize: elementSize)
    }

    func string(at p: Int) throws -> String {
        let count = Int(try u32(p))
        try check(p + 4, count)
        // The terminating NUL is required by the format; a missing one is corruption.
        guard count < bytes.count - (p + 4), bytes[p + 4 + count] == 0 else { throw fail("string at \(p) is not NUL-terminated") }
        guard let s = String(validating: bytes[(p + 4)..<(p + 4 + count)], as: UTF8.self) else {
            throw fail("string at \(p) is not UTF-8")
        }
        return s
    }
}
