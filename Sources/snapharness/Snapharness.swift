import ArgumentParser
import Foundation
import SnapHarnessEngine

@main
struct Snapharness: ParsableCommand {
    static func main() {
        InheritedDescriptors.keepFromChildren()
        // Every environment holds a few descriptors here (pipes, its network, its listener): many copies at once
        // need more than the usual soft limit of 1,024, which the hard limit allows.
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0, files.rlim_cur < files.rlim_max {
            files.rlim_cur = files.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
        }
        Leftovers.report { Output.note($0) }
        Interrupts.install { sig in
            Output.note("\(Interrupts.describe(sig)) received: stopping the function and cleaning up")
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
            let privileged: [ParsableCommand.Type] = [RunCommand.self, SnapshotCommand.self, RestoreCommand.self,
                                                      ServeCommand.self, CheckCommand.self, SoakCommand.self, BenchCommand.self]
            if geteuid() != 0 && privileged.contains(where: { type(of: command) == $0 }) {
                Output.error("snapharness needs root: it creates each environment's namespaces and mounts and drives "
                             + "CRIU, which need CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE. Run it with sudo (the function "
                             + "itself still runs unprivileged, as sbx_user1051); `snapharness doctor` and `inspect` work "
                             + "without root")
                Foundation.exit(1)
            }
            try command.run()
        } catch {
            // One exit code for bad input, whichever parser caught it: ArgumentParser's usage errors (64) too.
            if exitCode(for: error) == .validationFailure {
                StandardStreams.err(fullMessage(for: error) + "\n")
                Foundation.exit(1)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "snapharness",
        abstract: "Run AWS Lambda SnapStart's lifecycle locally: real checkpoints and restores with CRIU.",
        version: SnapHarnessVersion.current,
        subcommands: [RunCommand.self, SnapshotCommand.self, RestoreCommand.self, ServeCommand.self, InspectCommand.self, CheckCommand.self, SoakCommand.self, DoctorCommand.self,
                      BenchCommand.self]
    )
}
