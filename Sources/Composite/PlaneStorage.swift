#if canImport(Glibc)
import Glibc
#endif

/// One owned, uninitialised-on-allocation block of UInt16 planes. A class so builders that
/// write into a reducer's storage keep it alive. Pages are only touched when written, so an
/// unused observation slot costs address space, not memory.
///
/// Large blocks are mapped directly and asked for transparent huge pages: a chunk's
/// observation store is ~100 MB, and first-touch faults on 4 KiB pages (25,000 of them per
/// job) cost more than filling it.
///
/// `@unchecked`: it owns raw memory and never touches it; the reducer's threads write and read
/// disjoint pixel ranges of it, between the reducer's own synchronisation points.
final class PlaneStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt16>
    let count: Int
    private let mappedBytes: Int

    static let hugePage = 2 << 20

    init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<UInt16>.stride
        #if canImport(Glibc)
        if bytes >= 2 * Self.hugePage {
            let length = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            if let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED {
                _ = madvise(p, length, MADV_HUGEPAGE)  // advice only: 4 KiB pages work too
                base = p.bindMemory(to: UInt16.self, capacity: count)
                mappedBytes = length
                return
            }
        }
        #endif
        base = .allocate(capacity: max(count, 1))
        mappedBytes = 0
    }

    deinit {
        #if canImport(Glibc)
        if mappedBytes > 0 {
            munmap(UnsafeMutableRawPointer(base), mappedBytes)
            return
        }
        #endif
        base.deallocate()
    }
}
/// Checked a * b * c for sizes (throws instead of trapping on absurd windows).
func checkedProduct(_ factors: Int..., what: String) throws -> Int {
    var result = 1
    for f in factors {
        guard f >= 0 else { throw CompositeError.invalidDimensions("\(what) has a negative factor \(f)") }
        let (r, overflow) = result.multipliedReportingOverflow(by: f)
        guard !overflow else { throw CompositeError.invalidDimensions("\(what) overflows") }
        result = r
    }
    return result
}
