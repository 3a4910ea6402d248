import ArgumentParser
import CubePreview
import CubeSchema
import CubeStore
import Foundation

struct PreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Render a true-colour quicklook PNG of one time bin.",
        discussion: "Decimated to at most --size pixels a side, each band stretched between its 2nd and 98th percentile, pixels without data transparent."
    )

    @Argument(help: "The cube's store.")
    var store: String

    @Option(help: "The time bin label, e.g. 2024-03.")
    var time: String

    @Option(help: "Bands for red, green, blue (or one band for grey), comma separated. Default: red,green,blue.")
    var bands: String?

    @Option(help: "Largest side of the image in pixels.")
    var size = 1024

    @Option(name: .shortAndLong, help: "The PNG file to write.")
    var output: String

    @Option(help: "For an Icechunk store: the version to read (a snapshot id from `cube log`, a tag or a branch). Default: the tip of main.")
    var at: String?

    func run() throws {
        try runReportingErrors {
            guard size >= 16 else { throw UsageError("--size must be at least 16") }
            let s = try openStore(store, access: .read(version: at))
            let (_, plan, layout) = try CubeSchema.open(store: s)
            guard let bin = plan.bins.firstIndex(where: { $0.label == time }) else {
                throw UsageError("--time \(time): no such time bin (bins are \(plan.bins.first?.label ?? "")..\(plan.bins.last?.label ?? ""))")
            }
            let list = bands.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let png: Data
            do {
                png = try Quicklook(layout: layout, store: s).png(bin: bin, bands: list, maxSize: size)
            } catch let e as SchemaError {
                throw UsageError(e.description)
            }
            try png.write(to: URL(fileURLWithPath: output), options: .atomic)
            print("wrote \(output)")
        }
    }
}
