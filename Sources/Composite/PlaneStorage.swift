/// One owned, uninitialised-on-allocation block of UInt16 planes. A class so builders that
/// write into a reducer's storage keep it alive. Pages are only touched when written, so an
/// unused observation slot costs address space, not memory.
final class PlaneStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt16>
    let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
    }

    deinit { base.deallocate() }
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
