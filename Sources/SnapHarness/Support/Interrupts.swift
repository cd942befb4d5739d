#if os(Linux)
import Dispatch
import Glibc
import Synchronization

/// SIGINT/SIGTERM to the supervisor: every function process it started or restored is killed at once (never left
/// running or frozen), and the phase in progress then fails and unwinds through its normal cleanup (listeners
/// closed, temporary folders and half-written snapshots removed).
public enum Interrupts {
    private static let state = Mutex<(signal: Int32?, pids: Set<pid_t>)>((nil, []))
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// Installs the handlers; `onSignal` runs once per signal (for a message), after the processes are killed.
    public static func install(onSignal: @escaping @Sendable (Int32) -> Void) {
        ignoreBrokenPipes()
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let pids = state.withLock { s -> Set<pid_t> in
                    if s.signal == nil { s.signal = sig }
                    return s.pids
                }
                for pid in pids { kill(pid, SIGKILL) }
                onSignal(sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// SIGPIPE ignored process-wide, once: a write to a runtime that died must fail with EPIPE and go through the
    /// normal cleanup, not end the supervisor silently (pipes can't use MSG_NOSIGNAL the way sockets do).
    public static func ignoreBrokenPipes() {
        _ = brokenPipesIgnored
    }

    private static let brokenPipesIgnored: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return true
    }()

    /// The first signal received, if any.
    public static var received: Int32? { state.withLock { $0.signal } }

    /// Throws once a signal was received: long phases call it between steps.
    public static func check() throws {
        if let sig = received {
            throw LifecycleError(.input, "interrupted by \(sig == SIGINT ? "SIGINT" : "SIGTERM"); the function was stopped")
        }
    }

    /// Sleeps up to `seconds`, returning early (and throwing) when interrupted.
    public static func sleep(_ seconds: Double) throws {
        let end = Clock.now + seconds
        while Clock.now < end {
            try check()
            usleep(UInt32(min(50_000, max(1_000, (end - Clock.now) * 1e6))))
        }
        try check()
    }

    /// A function process to kill on interrupt; killed right away if the signal already came.
    static func track(_ pid: pid_t) {
        let already = state.withLock { s -> Bool in
            s.pids.insert(pid)
            return s.signal != nil
        }
        if already { kill(pid, SIGKILL) }
    }

    static func untrack(_ pid: pid_t) { state.withLock { _ = $0.pids.remove(pid) } }
}
#endif
