#if os(Linux)
import Foundation
import SnapHarnessEngine
import Synchronization

/// One environment's log: every line goes to the server's log labelled with the environment (as `run` labels
/// copies), and the lines of the invocation in progress are kept for `X-Amz-Log-Type: Tail`.
final class InvocationLogs: Sendable {
    /// Lambda returns the last 4 KB of the invocation's log.
    static let tailBytes = 4096
    /// The lines of the invocation in progress (nil between invocations).
    private final class Capture: Sendable {
        let lines = Mutex<[String]?>(nil)
    }
    private let capture = Capture()
    let lambdaLog: LambdaLog

    init(copy: Int, sink: @escaping @Sendable (String) -> Void) {
        let prefix = "[copy \(copy)] "
        let capture = self.capture
        lambdaLog = LambdaLog(labelCopies: true) { line in
            sink(line)
            let text = line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count)) : line
            capture.lines.withLock { lines in lines?.append(text) }
        }
    }

    func begin() { capture.lines.withLock { $0 = [] } }

    /// The invocation's log (START to REPORT), its last 4 KB.
    func end() -> String {
        let lines = capture.lines.withLock { lines -> [String] in
            defer { lines = nil }
            return lines ?? []
        }
        let text = lines.map { $0 + "\n" }.joined()
        let bytes = Array(text.utf8)
        return bytes.count <= InvocationLogs.tailBytes ? text
            : String(decoding: bytes.suffix(InvocationLogs.tailBytes), as: UTF8.self)
    }
}
#endif
