/// A minimal FlatBuffers builder: just what the Icechunk schemas need (tables, scalars,
/// inline structs, strings, vectors of scalars, structs and offsets, a file identifier).
///
/// It builds back to front like the reference builders, because a FlatBuffers offset is
/// unsigned and must point forward: children are written first and end up after their parent.
/// The bytes are kept reversed (`reversed[i]` is the final buffer's byte `count - 1 - i`), so
/// prepending is an append; an `Offset` is a distance from the end of the buffer. Identical
/// vtables are shared, as the reference builders do, which keeps a manifest of a million chunk
/// refs from carrying a million copies of the same vtable.
struct FlatBufferBuilder {
    struct Offset: Hashable { let value: Int }

    private var reversed: [UInt8] = []
    private var minAlign = 1
    private var tableStart: Int?
    /// (slot, end-relative position of the field) of the table being built.
    private var fields: [(slot: Int, position: Int)] = []
    private var vtables: [[UInt16]: Int] = [:]

    init(capacity: Int = 1024) { reversed.reserveCapacity(capacity) }

    var size: Int { reversed.count }

    // MARK: raw prepending

    private mutating func pad(_ n: Int) {
        for _ in 0..<n { reversed.append(0) }
    }

    /// Pads so that after writing `additional` more bytes the end-relative offset is a multiple
    /// of `alignment`; `finish` pads the whole buffer to the largest alignment seen, so that is
    /// also alignment from the start.
    private mutating func prep(_ alignment: Int, _ additional: Int) {
        minAlign = max(minAlign, alignment)
        let padding = (~(size + additional) &+ 1) & (alignment - 1)
        pad(padding)
    }

    private mutating func put<T: FixedWidthInteger>(_ value: T) {
        // Reversed little-endian: most significant byte first.
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { raw in
            for i in stride(from: raw.count - 1, through: 0, by: -1) { reversed.append(raw[i]) }
        }
    }

    private mutating func putBytes(_ bytes: [UInt8]) {
        for i in stride(from: bytes.count - 1, through: 0, by: -1) { reversed.append(bytes[i]) }
    }

    private mutating func prependOffset(_ target: Offset) {
        prep(4, 0)
        precondition(target.value <= size, "FlatBuffers offsets must point forward")
        put(UInt32(size - target.value + 4))
    }

    // MARK: objects

    mutating func createString(_ text: String) -> Offset {
        let bytes = Array(text.utf8)
        prep(4, bytes.count + 1)
        reversed.append(0)
        putBytes(bytes)
        put(UInt32(bytes.count))
        return Offset(value: size)
    }

    mutating func createVector<T: FixedWidthInteger>(_ values: [T]) -> Offset {
        let width = MemoryLayout<T>.size
        prep(4, values.count * width)
        prep(width, values.count * width)
        for v in values.reversed() { put(v) }
        put(UInt32(values.count))
        return Offset(value: size)
    }

    mutating func createVector(bytes: [UInt8]) -> Offset {
        prep(4, bytes.count)
        putBytes(bytes)
        put(UInt32(bytes.count))
        return Offset(value: size)
    }

    /// A vector of inline structs, each given as its little-endian bytes (`elementSize` each).
    mutating func createVector(structs: [[UInt8]], elementSize: Int, alignment: Int) -> Offset {
        prep(max(4, alignment), structs.count * elementSize)
        for element in structs.reversed() {
            precondition(element.count == elementSize)
            putBytes(element)
        }
        put(UInt32(structs.count))
        return Offset(value: size)
    }

    mutating func createVector(offsets: [Offset]) -> Offset {
        prep(4, offsets.count * 4)
        for o in offsets.reversed() { prependOffset(o) }
        put(UInt32(offsets.count))
        return Offset(value: size)
    }

    // MARK: tables

    mutating func startTable() {
        precondition(tableStart == nil, "tables do not nest while being built")
        tableStart = size
        fields.removeAll(keepingCapacity: true)
    }

    /// A scalar field; like the reference builders, a value equal to the schema default is
    /// left out unless `force` (readers return the default for an absent field).
    mutating func add<T: FixedWidthInteger>(_ slot: Int, _ value: T, default defaultValue: T = 0, force: Bool = false) {
        guard force || value != defaultValue else { return }
        prep(MemoryLayout<T>.size, 0)
        put(value)
        fields.append((slot, size))
    }

    mutating func add(_ slot: Int, offset: Offset) {
        prependOffset(offset)
        fields.append((slot, size))
    }

    mutating func add(_ slot: Int, offset: Offset?) {
        if let offset { add(slot, offset: offset) }
    }

    /// An inline struct field given as its little-endian bytes.
    mutating func add(_ slot: Int, structBytes: [UInt8], alignment: Int) {
        prep(alignment, structBytes.count)
        putBytes(structBytes)
        fields.append((slot, size))
    }

    mutating func endTable() -> Offset {
        guard let start = tableStart else { preconditionFailure("endTable without startTable") }
        prep(4, 0)
        put(Int32(0))  // the vtable offset, patched below
        let table = size
        let slots = (fields.map(\.slot).max() ?? -1) + 1
        var entries = [UInt16](repeating: 0, count: slots)
        for f in fields { entries[f.slot] = UInt16(table - f.position) }
        let vtable: [UInt16] = [UInt16(4 + 2 * slots), UInt16(table - start)] + entries
        let vtablePosition: Int
        if let existing = vtables[vtable] {
            vtablePosition = existing
        } else {
            for v in vtable.reversed() { put(v) }
            vtablePosition = size
            vtables[vtable] = vtablePosition
        }
        // soffset = table address - vtable address = vtablePosition - table (end-relative).
        let soffset = Int32(vtablePosition - table)
        var le = soffset.littleEndian
        withUnsafeBytes(of: &le) { raw in
            for k in 0..<4 { reversed[table - 1 - k] = raw[k] }
        }
        tableStart = nil
        return Offset(value: table)
    }

    /// The finished buffer: root offset, then the 4-byte file identifier, then the objects.
    mutating func finish(root: Offset, identifier: String) -> [UInt8] {
        let id = Array(identifier.utf8)
        precondition(id.count == 4)
        prep(max(minAlign, 4), 8)
        putBytes(id)
        prependOffset(root)
        return reversed.reversed()
    }
}

/// Little-endian struct bytes, for the schema's inline structs.
enum StructBytes {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
