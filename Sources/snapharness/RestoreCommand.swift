import ArgumentParser
import SnapHarness

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore copies of a snapshot, run their after-restore hooks and invoke them.",
        discussion: "Works from any later snapharness process; the same snapshot can be restored any number of times."
    )

    @Argument(help: "Snapshot folder written by `snapharness snapshot`.", completion: .directory)
    var snapshot: String

    @Option(name: .long, help: "Restored copies to run side by side.")
    var count: Int = 1

    @OptionGroup var invoke: InvokeOptions

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let criu = try Criu.locate()
        let log = invoke.json ? LambdaLog.silent : LambdaLog.standardError(labelCopies: false)
        let (copies, json) = (count, invoke.json)
        try Output.run(json: json) { report in
            let event = try invoke.eventText()
            try Lifecycle(criu: criu, log: log).restore(SnapshotDirectory(path: snapshot), copies: copies,
                                                         invocations: invoke.invocations, event: event,
                                                         report: &report) { copy, r in
                if !json { Output.printResult(copy: copy, copies: copies, r) }
            }
        }
    }
}
