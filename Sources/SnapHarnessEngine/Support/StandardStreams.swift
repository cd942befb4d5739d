#if os(Linux)
import Glibc
import Synchronization

/// Writes to this process's stdout and stderr. A reader that went away (`| head`, a closed terminal) gives EPIPE:
/// the run then ends as a SIGPIPE would end it, but through the normal cleanup (`Interrupts.outputClosed`: every
/// function process killed, the phase unwinds, exit 141), never a crash that leaves environments running.
/// After that nothing more is written, so a failure to report cannot fail again.
public enum StandardStreams {
    private static let closed = Mutex(false)
    private static let lock = Mutex(())

    public static func out(_ text: String) { write(text, to: 1) }
    public static func err(_ text: String) { write(text, to: 2) }

    public static func write(_ text: String, to fd: Int32) {
        guard !closed.withLock({ $0 }) else { return }
        var failed = false
        lock.withLock { _ in
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 { failed = true; return }
                bytes = bytes.dropFirst(n)
            }
        }
        if failed {
            closed.withLock { $0 = true }
            Interrupts.outputClosed()
        }
    }
}
#endif
