/// Splits a target window (row-major, `width × height`) into row strips whose reducer fits a
/// memory budget. A strip's pixels are a contiguous slice of every row-major plane, so the
/// caller passes `UnsafeBufferPointer(rebasing: plane[rows.lowerBound * width ..< rows.upperBound * width])`.
/// Reducing strip by strip gives exactly the same result as reducing the window whole.
public enum StripPlan {
    /// The most rows per strip whose `CompositeReducer.bytesRequired` stays within
    /// `budgetBytes`; at least 1 (a single row over budget is still returned, with 1 row).
    public static func rowsPerStrip(
        width: Int, height: Int, bandCount: Int, observations: Int, budgetBytes: Int, threads: Int = 1
    ) -> Int {
        guard width > 0, height > 0 else { return max(height, 1) }
        let perRow = CompositeReducer.bytesRequired(
            pixelCount: width, bandCount: bandCount, observations: observations, threads: 0)
            - max(observations, 1) * MemoryLayout<Lane8>.stride
        let fixed = max(threads, 1) * max(observations, 1) * MemoryLayout<Lane8>.stride
        guard perRow > 0 else { return height }
        let rows = (budgetBytes - fixed) / perRow
        return min(height, max(1, rows))
    }

    /// Row ranges covering 0..<height, each at most `rowsPerStrip` rows, sized evenly so the
    /// last strip is not a sliver.
    public static func strips(height: Int, rowsPerStrip: Int) -> [Range<Int>] {
        guard height > 0 else { return [] }
        let per = max(1, rowsPerStrip)
        let count = (height + per - 1) / per
        return (0..<count).map { i in (height * i / count)..<(height * (i + 1) / count) }
    }
}
