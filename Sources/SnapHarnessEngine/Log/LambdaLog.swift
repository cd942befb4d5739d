#if os(Linux)
import Foundation
import SnapHarnessProtocol
import Synchronization

/// Lambda's platform log lines (INIT_START, RESTORE_REPORT, REPORT, ...) and the function's own output, in the
/// formats CloudWatch shows them, so what users read here is what they will read on Lambda.
public final class LambdaLog: Sendable {
    private let sink: @Sendable (String) -> Void
    private let lock = Mutex(())
    /// With several restored copies each line says which copy it came from.
    public let labelCopies: Bool

    public init(labelCopies: Bool = false, sink: @escaping @Sendable (String) -> Void) {
        self.labelCopies = labelCopies
        self.sink = sink
    }

    /// Writes lines to standard error.
    public static func standardError(labelCopies: Bool) -> LambdaLog {
        LambdaLog(labelCopies: labelCopies) { line in StandardStreams.err(line + "\n") }
    }

    /// Discards everything (for --json, where the report carries the facts).
    public static let silent = LambdaLog { _ in }

    public func line(_ text: String, copy: Int? = nil) {
        let prefix = labelCopies ? copy.map { "[copy \($0)] " } ?? "" : ""
        lock.withLock { _ in sink(prefix + text) }
    }

    public func copyingWithLabels(_ on: Bool) -> LambdaLog { LambdaLog(labelCopies: on, sink: sink) }

    // MARK: - Lambda's formats

    /// `%.2f ms` of the milliseconds, without String(format:) (serve writes one per invocation, and Foundation's
    /// formatting was 1% of its CPU): the same digits, round-half-even, and printf itself where a tie is too close to
    /// call in binary.
    static func ms(_ seconds: Double) -> String {
        let ms = seconds * 1000
        let hundredths = ms * 100
        let below = hundredths.rounded(.down)
        guard hundredths.isFinite, abs(hundredths) < 1e15, abs(hundredths - below - 0.5) > 1e-6 else {
            return String(format: "%.2f ms", ms)
        }
        let n = Int64(hundredths.rounded(.toNearestOrEven))
        let digits = n.magnitude % 100
        return "\(ms.sign == .minus ? "-" : "")\(n.magnitude / 100).\(digits < 10 ? "0" : "")\(digits) ms"
    }
    static func billed(_ seconds: Double) -> Int { max(1, Int((seconds * 1000).rounded(.up))) }

    func initStart(runtime: String) { line("INIT_START Runtime Version: \(runtime)") }

    func initReport(seconds: Double, status: String, errorType: LambdaErrorType? = nil) {
        var text = "INIT_REPORT Init Duration: \(LambdaLog.ms(seconds))\tPhase: init\tStatus: \(status)"
        if let errorType { text += "\tError Type: \(errorType)" }
        line(text)
    }

    /// What Lambda logs of each extension at the end of Init, and of its Telemetry API subscription.
    func extensions(_ extensions: [AgentMessage.ExtensionSummary]) {
        for e in extensions {
            line("EXTENSION\tName: \(e.name)\tState: \(e.state)\tEvents: [\(e.events.joined(separator: ", "))]")
        }
        for e in extensions {
            guard let types = e.telemetry else { continue }
            line("TELEMETRY\tName: \(e.name)\tState: Subscribed\tTypes: [\(types.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: ", "))]")
        }
    }

    func restoreStart(runtime: String, copy: Int) { line("RESTORE_START Runtime Version: \(runtime)", copy: copy) }

    func restoreReport(seconds: Double, copy: Int, status: String? = nil, errorType: LambdaErrorType? = nil) {
        var text = "RESTORE_REPORT Restore Duration: \(LambdaLog.ms(seconds))"
        if let status { text += "\tStatus: \(status)" }
        if let errorType { text += "\tError Type: \(errorType)" }
        line(text, copy: copy)
    }

    func start(requestId: String, copy: Int) { line("START RequestId: \(requestId) Version: $LATEST", copy: copy) }
    func end(requestId: String, copy: Int) { line("END RequestId: \(requestId)", copy: copy) }

    /// `restoreSeconds`: all of the restore; `billedRestoreSeconds`: runtime load + after-restore hooks only
    /// (what Lambda bills), both only on a restored environment's first invocation.
    func report(requestId: String, seconds: Double, memoryMB: Int, maxMemoryMB: Int?, restoreSeconds: Double?,
                billedRestoreSeconds: Double? = nil, status: String? = nil, errorType: LambdaErrorType? = nil, copy: Int) {
        var text = "REPORT RequestId: \(requestId)\tDuration: \(LambdaLog.ms(seconds))\t"
            + "Billed Duration: \(LambdaLog.billed(seconds)) ms\tMemory Size: \(memoryMB) MB\t"
            + "Max Memory Used: \(maxMemoryMB.map(String.init) ?? "-") MB"
        if let restoreSeconds {
            text += "\tRestore Duration: \(LambdaLog.ms(restoreSeconds))\tBilled Restore Duration: "
                + "\(LambdaLog.billed(billedRestoreSeconds ?? restoreSeconds)) ms"
        }
        if let status { text += "\tStatus: \(status)" }
        if let errorType { text += "\tError Type: \(errorType)" }
        line(text, copy: copy)
    }

    /// "[ERROR] Type: message" with the traceback, as the Python runtime logs errors.
    func error(_ error: LambdaError, copy: Int? = nil) {
        line("[ERROR] \(error.errorType): \(error.errorMessage)", copy: copy)
    }
}
#endif
