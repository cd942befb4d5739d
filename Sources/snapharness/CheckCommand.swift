import ArgumentParser
import Foundation
import SnapHarnessEngine
import SnapHarnessTools

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Find state SnapStart would freeze into the snapshot: shared randomness, IDs, connections, /tmp, credentials, hooks.",
        discussion: """
        Runs an independent Init of the handler for reference, then the whole lifecycle with --restores copies; the function is inspected at the end of Init (what the snapshot holds) and each copy after its invocations. Each finding gives the evidence, why it breaks on Lambda, and the fix.

        Findings are bugs (state the copies share and the function uses, or a generator something drew from during Init) or risks (state that would repeat once used, e.g. a global random generator a library loaded but the function never draws from).

        Exit codes: 0 no bugs (risks are reported), 2 bugs (or risks with --strict), otherwise the lifecycle's codes (see `snapharness run --help`).
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var credentials: CredentialOptions

    @Option(name: .long, help: "Restored copies to compare (at least 2).")
    var restores: Int = 3

    @OptionGroup var invoke: InvokeOptions
    @OptionGroup var delay: RestoreDelayOption
    @OptionGroup var lazy: LazyOption

    @Flag(name: .long, help: "Fail (exit 2) on risks too, not only on bugs.")
    var strict = false

    func validate() throws {
        guard restores >= 2 else { throw ValidationError("--restores must be at least 2: check compares copies") }
    }

    func run() throws {
        var found = 0
        try Output.run(json: false) { _ in
            let config = try function.config()
            let eventText = try invoke.eventText()
            let report = try credentials.withLifecycle { lifecycle in
                try StaleStateCheck(lifecycle: lifecycle).run(config, copies: restores, invocations: invoke.invocations,
                                                              event: eventText, restoreDelay: try delay.seconds,
                                                              lazyPages: lazy.lazy)
            }
            found = strict ? report.findings.count : report.bugs
            if invoke.json {
                Output.print(JSONValue.prettyText(report)) // findings, the checkpoint facts and the run's report
                return
            }
            for failure in report.failedInvocations { Output.print("note: \(failure)") }
            if report.findings.isEmpty {
                Output.print("No stale-state problems found across \(restores) restored copies.")
            } else {
                let risks = report.findings.count - report.bugs
                Output.print("\(report.findings.count) stale-state problem(s) found across \(restores) restored copies"
                      + (risks > 0 ? " (\(report.bugs) bug(s), \(risks) risk(s)\(strict ? "" : "; risks fail only with --strict"))" : "")
                      + ":\n")
                Output.print(report.findings.map(\.text).joined(separator: "\n\n"))
            }
        }
        if found > 0 { throw ExitCode(2) }
    }
}
