/// Every key of the cube's bookkeeping folder (`_cube/` in the store), spelled once: the
/// coordinator, workers, readers and the Icechunk store all meet in these objects, so a key
/// spelled twice could drift apart unnoticed. The owning types keep their names for them
/// (`PlanFile.storeKey`, `JobLedger.donePrefix`, ...) as aliases of these.
public enum StoreKeys {
    /// The folder itself; also an empty Zarr group (`CubeLayout.bookkeepingGroup`).
    public static let folder = "_cube"
    /// The folder as a list prefix, with its slash.
    public static let folderPrefix = folder + "/"

    public static let plan = folderPrefix + "plan.json"
    public static let spec = folderPrefix + "spec.yaml"
    public static let build = folderPrefix + "build.json"
    public static let publication = folderPrefix + "publication.json"
    public static let report = folderPrefix + "report.json"
    public static let runLock = folderPrefix + "run.lock"
    public static let updateJournal = folderPrefix + "update.json"

    /// Done and failure records, one per job below these (no trailing slash).
    public static let donePrefix = folderPrefix + "done"
    public static let failedPrefix = folderPrefix + "failed"

    /// The scene index (docs/scene-index.md) and its snapshot record.
    public static let indexPrefix = folderPrefix + "index"
    public static let indexSnapshot = indexPrefix + "/snapshot.json"

    public static let stacCollection = folderPrefix + "stac/collection.json"
    public static func stacItem(_ binLabel: String) -> String { folderPrefix + "stac/items/\(binLabel).json" }

    /// Pyramid done marks: one per level, bin and chunk.
    public static let pyramidPrefix = folderPrefix + "pyramid/"
    public static func pyramidLevelPrefix(_ level: Int) -> String { pyramidPrefix + "\(level)/" }
    public static func pyramidDone(level: Int, bin: Int, cy: Int, cx: Int) -> String {
        pyramidLevelPrefix(level) + "\(bin)/\(cy).\(cx)"
    }

    public static func preview(_ binLabel: String) -> String { folderPrefix + "previews/\(binLabel).png" }

    /// The Icechunk store's own objects beside a repository (never shown as cube keys).
    public static let icechunkPrefix = folderPrefix + "icechunk/"
    public static let icechunkStaged = icechunkPrefix + "staged/"
    public static let icechunkCommitIntent = icechunkPrefix + "commit.json"
}
