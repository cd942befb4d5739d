import ArgumentParser
import SnapHarnessEngine

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
    @OptionGroup var credentials: CredentialOptions
    @OptionGroup var lazy: LazyOption

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let (copies, json) = (count, invoke.json)
        try Output.run(json: json) { report in
            let options = Lifecycle.RestoreOptions(copies: copies, invocations: invoke.invocations, event: try invoke.eventText(),
                                                   lazyPages: lazy.lazy)
            try credentials.withLifecycle { lifecycle in
                try lifecycle.restore(SnapshotDirectory(path: snapshot), options, report: &report) { copy, r in
                    if !json { Output.printResult(copy: copy, copies: copies, r) }
                }
            }
        }
    }
}
