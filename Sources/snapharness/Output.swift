import ArgumentParser
import Foundation
import SnapHarnessEngine

/// How commands talk to the user: Lambda's log on stderr, results (or one JSON report) on stdout, and an exit
/// code per failed phase.
enum Output {
    /// A result exactly as the runtime encoded it (Lambda passes it through byte for byte), or the error object;
    /// with several copies each line is `{"copy":N,"result":...}`.
    static func printResult(copy: Int, copies: Int, _ r: InvocationReport) {
        let body = r.error.flatMap { try? JSONValue(encoding: $0).jsonText } ?? r.result?.text ?? "null"
        let line = copies > 1 ? "{\"copy\":\(copy),\"\(r.error == nil ? "result" : "error")\":\(body)}" : body
        StandardStreams.out(line + "\n")
    }

    /// A line on stdout (results, tables, reports).
    static func print(_ text: String) { StandardStreams.out(text + "\n") }

    static func note(_ text: String) { StandardStreams.err("snapharness: " + text + "\n") }

    static func error(_ text: String) { note(text) }

    /// Runs a lifecycle step: failures are printed with their phase and mapped to the phase's exit code; an
    /// interrupt (SIGINT/SIGTERM) ends with 130/143 once everything is cleaned up.
    static func run(json: Bool, _ body: (inout LifecycleReport) throws -> Void) throws {
        var report = LifecycleReport()
        do {
            try body(&report)
            try Interrupts.check()
            if json { print(report.jsonText) }
            try Interrupts.check() // the report itself may meet a closed stdout
        } catch {
            if Interrupts.received == nil, !(error is ExitCode) {
                report.failure = FailureReport(error as? LifecycleError ?? LifecycleError(.input, cause: error))
                if json { print(report.jsonText) }
            }
            throw exit(for: error)
        }
    }

    /// The one place a failure becomes what the user sees and the exit code: an interrupt 128+signal (after the
    /// cleanup it announces), a lifecycle failure its phase's code with its phase and hint, anything else 1.
    /// `interrupted`: the command's own words for an interrupt.
    static func exit(for error: Error, interrupted: String? = nil) -> ExitCode {
        if let sig = Interrupts.received {
            self.error(interrupted ?? "interrupted by \(Interrupts.describe(sig)): the function was stopped and its "
                       + "temporary files removed")
            return ExitCode(128 + sig)
        }
        switch error {
        case let e as ExitCode: return e
        case let e as LifecycleError:
            self.error(e.description)
            return ExitCode(e.phase.exitCode)
        default:
            self.error("\(error)")
            return ExitCode(1)
        }
    }
}
