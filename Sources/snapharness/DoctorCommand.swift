import ArgumentParser
import SnapHarness

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Check that checkpoint/restore works here.")
    func run() throws {
        let criu = try Criu.locate()
        print("criu: \(criu.binary) \(try criu.serviceVersion())")
    }
}
