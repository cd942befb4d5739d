import ArgumentParser
import Foundation
import SnapHarnessEngine
import SnapHarnessTools

struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Endurance run: restore one snapshot many times and check nothing creeps (fds, children, mounts, nft tables, latency).",
        discussion: """
        Takes one snapshot of DIR, then runs --sequential restore+invoke cycles one after another and --rounds rounds of --concurrency copies side by side. After every cycle and round it compares the supervisor's open descriptors, child processes, mounts and CRIU nftables tables with their starting counts. Exits 1 if anything drifted, any restore failed, or the restore latency of the last 50 cycles is more than 1.5x that of the first 50.
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var credentials: CredentialOptions

    @Option(name: .long, help: "Sequential restore+invoke cycles.")
    var sequential: Int = 500

    @Option(name: .long, help: "Rounds of concurrent copies.")
    var rounds: Int = 50

    @Option(name: .long, help: "Copies per concurrent round.")
    var concurrency: Int = 8

    func validate() throws {
        guard sequential >= 1, rounds >= 1, concurrency >= 1 else {
            throw ValidationError("--sequential, --rounds and --concurrency must be at least 1")
        }
    }

    func run() throws {
        var ok = false
        try Output.run(json: false) { _ in
            let config = try function.config()
            try credentials.withLifecycle(silent: true) { lifecycle in
                var soak = Soak(lifecycle: lifecycle)
                soak.sequential = sequential
                soak.rounds = rounds
                soak.concurrency = concurrency
                let started = Date()
                let result = try soak.run(config) { Output.print($0) }
                let trend = Soak.trend(result.sequentialRestoreMs)
                Output.print(String(format: "restore latency trend: first 50 p50 %.1f ms -> last 50 p50 %.1f ms (x%.2f)",
                             trend.first, trend.last, trend.ratio))
                Output.print("baseline \(result.baseline); after: \(Soak.Footprint.take())")
                Output.print("drifts: \(result.drifts.count), failures: \(result.failures.count), "
                      + String(format: "%.0f s in all", Date().timeIntervalSince(started)))
                for line in (result.drifts + result.failures).prefix(20) { Output.print("  " + line) }
                ok = result.ok && trend.ratio <= 1.5
                Output.print(ok ? "soak passed" : "soak FAILED")
            }
        }
        if !ok { throw ExitCode(1) }
    }
}
