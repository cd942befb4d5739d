import ArgumentParser
import Foundation
import SnapHarnessEngine
import SnapHarnessTools

/// `snapharness doctor`: prints the doctor report (text or JSON). The checks live in the SnapHarness library so
/// tests run the same code; this command only chooses the format and turns a failed probe into exit status 1, so
/// scripts (and `make demo`) can stop before a run that cannot work.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that checkpoint/restore works here, and say how to fix what is missing.",
        discussion: "Exits 0 only when a real checkpoint and restore of a small process succeeds.")

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let report = Doctor().run()
        if json {
            Output.print(String(decoding: try report.json(), as: UTF8.self))
        } else {
            Output.print(report.text)
        }
        if !report.probeWorks { throw ExitCode(1) }
    }
}
