import ArgumentParser
import SnapHarnessEngine

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Init, snapshot, restore and invoke a Python handler: the whole SnapStart lifecycle.",
        discussion: """
        Imports the handler in a sandbox, runs its before-snapshot hooks, checkpoints it with CRIU, restores --restores copies from that one snapshot (concurrently), runs each copy's after-restore hooks and sends it --invocations events. Lambda's log lines go to stderr, results to stdout.

        Exit codes: 0 ok, 1 bad input, 3 Init failed, 4 before-snapshot hook failed, 5 checkpoint failed, 6 restore failed, 7 after-restore hook failed or timed out, 8 an invocation failed, 130/143 interrupted by SIGINT/SIGTERM (after cleaning up).
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var invoke: InvokeOptions
    @OptionGroup var credentials: CredentialOptions

    @Option(name: .long, help: "Restored copies to run side by side from one snapshot.")
    var restores: Int = 1

    @OptionGroup var delay: RestoreDelayOption
    @OptionGroup var lazy: LazyOption

    func validate() throws {
        guard restores >= 1 else { throw ValidationError("--restores must be at least 1") }
    }

    func run() throws {
        let (copies, json) = (restores, invoke.json)
        try Output.run(json: json) { report in
            let config = try function.config()
            let options = Lifecycle.RestoreOptions(copies: copies, invocations: invoke.invocations, event: try invoke.eventText(),
                                                   lazyPages: lazy.lazy)
            let delay = try self.delay.seconds
            try credentials.withLifecycle { lifecycle in
                try lifecycle.run(config, options, restoreDelay: delay, report: &report, onResult: { copy, r in
                    if !json { Output.printResult(copy: copy, copies: copies, r) }
                })
            }
        }
    }
}
