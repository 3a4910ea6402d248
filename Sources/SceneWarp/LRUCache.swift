/// A small least-recently-used cache bounded by entry count and by a caller-given cost (bytes).
/// Eviction scans the entries, which is fine for the tens of entries a worker keeps.
struct LRUCache<Key: Hashable, Value> {
    private struct Entry { var value: Value; var cost: Int; var lastUse: UInt64 }
    private var entries: [Key: Entry] = [:]
    private var clock: UInt64 = 0
    private(set) var totalCost = 0
    let maxCount: Int
    let maxCost: Int

    init(maxCount: Int, maxCost: Int = .max) {
        self.maxCount = max(1, maxCount)
        self.maxCost = maxCost
    }

    var count: Int { entries.count }

    mutating func value(for key: Key) -> Value? {
        guard var entry = entries[key] else { return nil }
        clock += 1
        entry.lastUse = clock
        entries[key] = entry
        return entry.value
    }

    /// Inserts and evicts the least recently used entries until both bounds hold again; the
    /// new entry itself stays even when it alone exceeds `maxCost` (the caller needs it now).
    mutating func insert(_ value: Value, for key: Key, cost: Int = 0) {
        clock += 1
        if let old = entries[key] { totalCost -= old.cost }
        entries[key] = Entry(value: value, cost: cost, lastUse: clock)
        totalCost += cost
        while entries.count > 1, entries.count > maxCount || totalCost > maxCost {
            guard let victim = entries.filter({ $0.key != key }).min(by: { $0.value.lastUse < $1.value.lastUse })
            else { break }
            totalCost -= victim.value.cost
            entries[victim.key] = nil
        }
    }

    mutating func remove(_ key: Key) {
        if let old = entries.removeValue(forKey: key) { totalCost -= old.cost }
    }

    mutating func removeAll() {
        entries.removeAll()
        totalCost = 0
    }
}
