#if os(Linux)
import Foundation
import Synchronization
import SnapHarnessProtocol

/// End-of-invocation marks in the function's output. After each invocation the runtime writes
/// `\u{1E}snapharness:end:<request id>` to stdout and stderr, after everything the handler printed and before it
/// answers; the supervisor waits for both marks before it logs END, so an invocation's output never comes after
/// its END/REPORT lines (the pipes and the control socket are read by different threads).
public final class OutputMarks: Sendable {
    static let prefix = ControlProtocol.endMark
    static let exitSignalPrefix = ControlProtocol.exitSignalMark
    /// The record separator both marks begin with.
    static let markByte = prefix.utf8.first!
    private let seen = Mutex<[String: Int]>([:])
    private let runtimeSignal = Mutex<Int32?>(nil)
    private let condition = NSCondition()

    public init() {}

    /// Splits a mark off an output line: the text before it (nil when there was no mark, or only the mark).
    func filter(_ line: String) -> (text: String?, hadMark: Bool) {
        // Every mark begins with the record separator: most lines are the function's own and have none (a byte scan
        // instead of Foundation's search, which was 2% of serve's CPU per invocation).
        guard line.utf8.contains(OutputMarks.markByte) else { return (line, false) }
        if let range = line.range(of: OutputMarks.exitSignalPrefix), let sig = Int32(line[range.upperBound...]) {
            runtimeSignal.withLock { $0 = sig }
            let before = String(line[..<range.lowerBound])
            return (before.isEmpty ? nil : before, true)
        }
        guard let range = line.range(of: OutputMarks.prefix) else { return (line, false) }
        let id = String(line[range.upperBound...])
        condition.lock()
        seen.withLock { $0[id, default: 0] += 1 }
        condition.broadcast()
        condition.unlock()
        let before = String(line[..<range.lowerBound])
        return (before.isEmpty ? nil : before, true)
    }

    /// The runtime's own end when snapharness-init reported a signal, for the init's `exited(128 + signal)`.
    func runtimeStatus(for status: ExitStatus) -> ExitStatus {
        guard case .exited(let code) = status, let sig = runtimeSignal.withLock({ $0 }), code == 128 + sig else { return status }
        return .signaled(sig)
    }

    /// Waits until `count` marks of `requestId` arrived (one per stream), at most `timeout` seconds; forgets them.
    @discardableResult
    func wait(for requestId: String, count: Int = 2, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while seen.withLock({ $0[requestId, default: 0] }) < count {
            if !condition.wait(until: deadline) { break }
        }
        return seen.withLock { $0.removeValue(forKey: requestId) ?? 0 } >= count
    }
}
#endif
