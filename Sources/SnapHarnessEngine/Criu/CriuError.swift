#if os(Linux)
import Foundation
import Glibc

/// A CRIU failure as the user needs to see it: which operation, and CRIU's own reasons from its log.
/// libcriu returns -EBADE (-52) for nearly everything; the `Error (...)` lines of the log say why.
public struct CriuError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    public let reasons: [String]
    public let logPath: String?

    public init(operation: String, code: Int32, logPath: String?) {
        self.operation = operation
        self.code = code
        self.logPath = logPath
        self.reasons = logPath.map(CriuError.reasons(inLogAt:)) ?? []
    }

    /// A call the watchdog stopped: past its deadline, or interrupted.
    public init(operation: String, timedOutAfter seconds: Double, logPath: String?) {
        self.operation = operation
        self.code = 0
        self.logPath = logPath
        let why = Interrupts.received != nil ? "it was interrupted"
            : "it did not finish within \(DurationText.describe(seconds)) (a damaged image or a hung task)"
        self.reasons = ["CRIU was stopped: \(why); the processes it had started were killed"]
            + (logPath.map(CriuError.reasons(inLogAt:)) ?? [])
    }

    public init(operation: String, message: String) {
        self.operation = operation
        self.code = 0
        self.logPath = nil
        self.reasons = [message]
    }

    /// Keeps a failed call's log as /tmp/snapharness-log-<operation>-<pid>-<time>.log (0600) when the folder it was
    /// written to is about to go, and returns the kept path (or the original if copying failed).
    /// Not after SIGINT/SIGTERM: the user stopped the run, CRIU's complaint about it is noise.
    static func keepLog(_ path: String, operation: String) -> String {
        if Interrupts.received != nil { return path }
        let kept = "/tmp/snapharness-log-\(operation)-\(getpid())-\(Int(Date().timeIntervalSince1970 * 1000)).log"
        guard (try? FileManager.default.copyItem(atPath: path, toPath: kept)) != nil else { return path }
        chmod(kept, 0o600)
        return kept
    }

    /// `Error (...)` lines CRIU prints on every call here that mean nothing for the outcome: shown only when
    /// there is nothing else, so the real reason comes first.
    static let harmless = [
        "Can't setup RLIMIT_NOFILE", // CAP_SYS_RESOURCE is not in root's bounding set on these machines
    ]

    /// The `Error (...)` lines of a CRIU log (known-harmless ones dropped), or its last lines when it has none.
    static func reasons(inLogAt path: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n").map(String.init)
        let allErrors = lines.filter { $0.contains("Error (") }
        let real = allErrors.filter { line in !harmless.contains { line.contains($0) } }
        let errors = real.isEmpty ? allErrors : real
        let picked = errors.isEmpty ? Array(lines.suffix(5)) : Array(errors.suffix(12))
        return picked.map(CriuError.stripTimestamp)
    }

    /// "(00.012345) Error (criu/cr-dump.c:1234): msg" -> "Error (criu/cr-dump.c:1234): msg"
    static func stripTimestamp(_ line: String) -> String {
        guard line.hasPrefix("("), let close = line.firstIndex(of: ")") else { return line }
        return line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
    }

    public var description: String {
        var text = "CRIU \(operation) failed"
        if code != 0 { text += " (libcriu returned \(code))" }
        if reasons.isEmpty {
            text += "; CRIU gave no reason"
        } else {
            text += ":\n" + reasons.map { "  " + $0 }.joined(separator: "\n")
        }
        if let logPath, FileManager.default.fileExists(atPath: logPath) { text += "\nFull CRIU log: \(logPath)" }
        return text
    }
}
#endif
