#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// Which of the function's output streams a line came from.
public enum OutputStreamKind: String, Sendable, Codable { case stdout, stderr }

/// Reads one of the function's output pipes on a thread of its own and hands out complete lines.
/// The pipe outlives a checkpoint only as an inode number: every restored copy gets fresh pipes and readers.
public final class LineReader: Sendable {
    private let fd: Int32
    private let done = DispatchSemaphore(value: 0)

    /// Lines longer than this are delivered in pieces, so a function printing without newlines cannot grow the
    /// supervisor's memory without bound.
    public static let maxLineBytes = 1 << 20

    public init(fd: Int32, onLine: @escaping @Sendable (String) -> Void) {
        self.fd = fd
        let thread = Thread { [fd, done] in
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                var start = 0
                for i in 0..<n where buffer[i] == UInt8(ascii: "\n") {
                    pending.append(contentsOf: buffer[start..<i])
                    onLine(String(decoding: pending, as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                    start = i + 1
                }
                pending.append(contentsOf: buffer[start..<n])
                if pending.count >= LineReader.maxLineBytes {
                    onLine(String(decoding: pending, as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                }
            }
            if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
            Glibc.close(fd)
            done.signal()
        }
        thread.name = "snapharness-output-\(fd)"
        thread.start()
    }

    /// Waits until the writer side is closed everywhere (the process and all its copies ended) and every line is out.
    @discardableResult
    public func waitForEOF(timeout: Double) -> Bool {
        if done.wait(timeout: .now() + timeout) == .success {
            done.signal()
            return true
        }
        return false
    }
}

/// Collects lines in memory; tests and the lifecycle wait on them.
public final class LineCollector: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public func append(_ line: String) { lines.withLock { $0.append(line) } }

    public var all: [String] { lines.withLock { $0 } }

    /// Polls until `predicate` holds over the lines seen so far, or `timeout` seconds pass.
    public func wait(timeout: Double, until predicate: ([String]) -> Bool) -> Bool {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if predicate(all) { return true }
            usleep(2000)
        }
        return predicate(all)
    }
}
#endif
