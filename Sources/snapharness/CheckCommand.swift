import ArgumentParser
import Foundation
import SnapHarness

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Find state SnapStart would freeze into the snapshot: shared randomness, IDs, connections, /tmp, credentials, hooks.",
        discussion: """
        Runs an independent Init of the handler for reference, then the whole lifecycle with --restores copies, each invoked and inspected. Each finding gives the evidence, why it breaks on Lambda, and the fix.

        Exit codes: 0 no findings, 2 findings, otherwise the lifecycle's codes (see `snapharness run --help`).
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var credentials: CredentialOptions

    @Option(name: .long, help: "Restored copies to compare (at least 2).")
    var restores: Int = 3

    @Option(name: .long, help: "Invocations per copy before inspecting it.")
    var invocations: Int = 1

    @Option(name: .long, help: "Event JSON file for the invocations ('-' reads standard input). Default: {}.")
    var event: String?

    @Option(name: .customLong("restore-delay"), help: "Wait this long between checkpoint and restore (e.g. 90s, 2m).")
    var restoreDelay: String = "0s"

    @Flag(name: .long, help: "Print the findings and the run's report as JSON on stdout.")
    var json = false

    func validate() throws {
        guard restores >= 2 else { throw ValidationError("--restores must be at least 2: check compares copies") }
        guard invocations >= 0 else { throw ValidationError("--invocations must be 0 or more") }
        _ = try DurationText.parse(restoreDelay)
    }

    func run() throws {
        var found = 0
        try Output.run(json: false) { _ in
            let config = try function.config()
            let eventText = try InvokeOptions(event: event).eventText()
            let report = try credentials.withLifecycle(json: json) { lifecycle in
                try StaleStateCheck(lifecycle: lifecycle).run(config, copies: restores, invocations: invocations,
                                                              event: eventText,
                                                              restoreDelay: try DurationText.parse(restoreDelay))
            }
            found = report.findings.count
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(report), as: UTF8.self))
                return
            }
            for failure in report.failedInvocations { print("note: \(failure)") }
            if report.findings.isEmpty {
                print("No stale-state problems found across \(restores) restored copies.")
            } else {
                print("\(report.findings.count) stale-state problem(s) found across \(restores) restored copies:\n")
                print(report.findings.map(\.text).joined(separator: "\n\n"))
            }
        }
        if found > 0 { throw ExitCode(2) }
    }
}
