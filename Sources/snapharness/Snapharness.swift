import ArgumentParser
import SnapHarness

@main
struct Snapharness: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapharness",
        abstract: "Run AWS Lambda SnapStart's lifecycle locally: real checkpoints and restores with CRIU.",
        subcommands: [RunCommand.self, SnapshotCommand.self, RestoreCommand.self, CheckCommand.self, DoctorCommand.self]
    )
}
