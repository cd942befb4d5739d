import ArgumentParser
import SnapHarnessEngine

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Init + before-snapshot hooks + checkpoint, saved to a snapshot folder for `restore`.",
        discussion: """
        The snapshot folder holds CRIU's images, CRIU's log and manifest.json; it is created 0700 with 0600 files (it holds process memory). It appears only when complete; an existing snapshot at -o is replaced only by a complete new one, and a folder that is not a snapshot is never overwritten.
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var credentials: CredentialOptions

    @Option(name: [.short, .customLong("output")], help: "Snapshot folder to write.", completion: .directory)
    var output: String

    @Flag(name: .long, help: "Print a JSON report on stdout.")
    var json = false

    func run() throws {
        try Output.run(json: json) { report in
            let config = try function.config()
            let target = SnapshotDirectory(path: output)
            let manifest = try credentials.withLifecycle { lifecycle in
                try lifecycle.snapshot(config, to: target, report: &report)
            }
            if !json {
                Output.note("snapshot written to \(target.path) (\(manifest.imageBytes / 1024) KiB of images, "
                            + "checkpoint \(String(format: "%.1f", manifest.dumpSeconds * 1000)) ms)")
            }
        }
    }
}
