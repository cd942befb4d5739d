import ArgumentParser
import Foundation
import SnapHarnessEngine

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a snapshot holds and whether this machine can restore it.",
        discussion: "Environment variables are listed by name only: their values may be secrets. Exit code 0 when this machine can restore the snapshot, 1 otherwise (the reason is printed)."
    )

    @Argument(help: "Snapshot folder written by `snapharness snapshot`.", completion: .directory)
    var snapshot: String

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        let summary: SnapshotSummary
        do {
            summary = try SnapshotSummary(SnapshotDirectory(path: SnapshotDirectory.absolute(snapshot)), criu: try? Criu.locate())
        } catch {
            throw Output.exit(for: error)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            Output.print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            Output.print(text(summary))
        }
        if !summary.restorableHere { throw ExitCode(1) }
    }

    func text(_ s: SnapshotSummary) -> String {
        func mib(_ bytes: UInt64) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        var lines = ["snapshot     \(s.path)",
                     "created      \(ISO8601DateFormatter().string(from: s.createdAt)) by snapharness \(s.snapharnessVersion ?? "?"), CRIU \(s.criuVersion)"]
        if let function = s.function {
            lines += ["function     \(function): \(s.handler ?? "?") on \(s.runtime ?? "?") (runtime client \(s.runtimeClient ?? "builtin"))",
                      "limits       \(s.memorySizeMB ?? 0) MB memory, \(s.timeoutSeconds.map { String(format: "%g", $0) } ?? "?") s timeout, "
                        + "\(s.ephemeralStorageMB ?? 512) MB /tmp",
                      s.image.map { "image        \($0) (\(s.imageID ?? "?"))" }
                        ?? "layers       \(s.layers.isEmpty ? "none" : s.layers.joined(separator: ", "))",
                      "extensions   \(s.extensions.isEmpty ? "none" : s.extensions.joined(separator: ", "))",
                      "hooks        before-snapshot: \(s.beforeSnapshotHooks.isEmpty ? "none" : s.beforeSnapshotHooks.joined(separator: ", ")); "
                        + "after-restore: \(s.afterRestoreHooks.isEmpty ? "none" : s.afterRestoreHooks.joined(separator: ", "))",
                      "environment  \(s.environmentVariables.joined(separator: " ")) (names only)"]
        } else {
            lines.append("function     none (a bare process)")
        }
        lines.append("sizes        images \(mib(s.imageBytes)), /tmp \(mib(s.tmpBytes)); Init "
                     + "\(s.initSeconds.map { String(format: "%.0f ms", $0 * 1000) } ?? "?"), checkpoint \(String(format: "%.0f ms", s.checkpointSeconds * 1000))")
        lines.append("restorable   " + (s.restorableHere ? "yes, on this machine" : "no: \(s.problem ?? "unknown")"))
        return lines.joined(separator: "\n")
    }
}
