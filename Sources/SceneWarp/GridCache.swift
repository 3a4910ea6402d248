import Foundation

/// The grid mappings several scene readers share: target centres per source CRS, index maps
/// per source lattice, and their grouping by source block. They depend on grids only, never on
/// a scene, so the read lanes of one job (and its following jobs) compute each once. Building
/// happens once per key: a lane asking for a mapping another lane is computing waits for it
/// instead of repeating the PROJ pass. Thread safe; bounded by bytes (LRU).
///
/// `@unchecked`: every mutable field is read and written with `condition` held (an NSCondition,
/// because threads wait on it: `Synchronization.Mutex` has no wait).
public final class GridCache: @unchecked Sendable {
    private let condition = NSCondition()
    private var centres: LRUCache<CentresKey, SourceCentres>
    private var maps: LRUCache<IndexMapKey, IndexMap>
    private var groups: LRUCache<GroupsKey, BlockGroups>
    private var building = Set<AnyHashable>()

    public init(limits: SceneReader.Limits = SceneReader.Limits()) {
        centres = LRUCache(maxCount: 64, maxCost: limits.maxCentreBytes)
        maps = LRUCache(maxCount: 256, maxCost: limits.maxIndexMapBytes)
        groups = LRUCache(maxCount: 256, maxCost: limits.maxIndexMapBytes * 2)
    }

    func centres(_ key: CentresKey, build: () throws -> SourceCentres) rethrows -> (SourceCentres, built: Bool) {
        try once(key, get: { $0.centres.value(for: key) },
                 put: { $0.centres.insert($1, for: key, cost: $1.byteCount) }, build: build)
    }

    func map(_ key: IndexMapKey, build: () throws -> IndexMap) rethrows -> (IndexMap, built: Bool) {
        try once(key, get: { $0.maps.value(for: key) },
                 put: { $0.maps.insert($1, for: key, cost: $1.byteCount) }, build: build)
    }

    func groups(_ key: GroupsKey, build: () throws -> BlockGroups) rethrows -> BlockGroups {
        try once(key, get: { $0.groups.value(for: key) },
                 put: { $0.groups.insert($1, for: key, cost: $1.byteCount) }, build: build).0
    }

    public func removeAll() {
        condition.lock()
        centres.removeAll()
        maps.removeAll()
        groups.removeAll()
        condition.unlock()
    }

    private func once<K: Hashable, V>(_ key: K, get: (GridCache) -> V?, put: (GridCache, V) -> Void,
                                      build: () throws -> V) rethrows -> (V, built: Bool) {
        let tag = AnyHashable(key)
        condition.lock()
        while true {
            if let value = get(self) {
                condition.unlock()
                return (value, false)
            }
            if !building.contains(tag) { break }
            condition.wait()
        }
        building.insert(tag)
        condition.unlock()
        defer {
            condition.lock()
            building.remove(tag)
            condition.broadcast()
            condition.unlock()
        }
        let value = try build()
        condition.lock()
        put(self, value)
        condition.unlock()
        return (value, true)
    }
}

struct GroupsKey: Hashable {
    let map: IndexMapKey
    let blockWidth, blockHeight: Int
}
