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
    nonisolated(unsafe) private static var handler: (@Sendable (Int32) -> Void)?

    /// Installs the handlers; `onSignal` runs once per signal (for a message), after the processes are killed.
    public static func install(onSignal: @escaping @Sendable (Int32) -> Void) {
        ignoreBrokenPipes()
        handler = onSignal
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stop(sig) }
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

    /// Records `sig` (the first one counts), kills every tracked function process, tells the handler and, for the
    /// first signal, the observers.
    private static func stop(_ sig: Int32) {
        let (pids, first) = state.withLock { s -> (Set<pid_t>, Bool) in
            defer { if s.signal == nil { s.signal = sig } }
            return (s.pids, s.signal == nil)
        }
        for pid in pids { kill(pid, SIGKILL) }
        handler?(sig)
        if first {
            for observer in observers.withLock({ list in defer { list = [] }; return list }) { observer(sig) }
        }
    }

    private static let observers = Mutex<[@Sendable (Int32) -> Void]>([])

    /// Calls `body` once, when the first signal has been received and its processes killed (at once if it already
    /// was): a server that runs until interrupted starts its shutdown from here.
    public static func whenReceived(_ body: @escaping @Sendable (Int32) -> Void) {
        let already = observers.withLock { list -> Int32? in
            if let sig = received { return sig }
            list.append(body)
            return nil
        }
        if let already { body(already) }
    }

    /// stdout or stderr can no longer be written (EPIPE): the run stops as if SIGPIPE had come, with the cleanup a
    /// SIGINT gets, and exits 141.
    public static func outputClosed() { stop(SIGPIPE) }

    /// What ended the run, for a message.
    public static func describe(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGPIPE: return "a closed output (EPIPE, as SIGPIPE)"
        default: return "signal \(sig)"
        }
    }

    /// The first signal received, if any.
    public static var received: Int32? { state.withLock { $0.signal } }

    /// Throws once a signal was received: long phases call it between steps.
    public static func check() throws {
        if let sig = received {
            throw LifecycleError(.input, "interrupted by \(describe(sig)); the function was stopped")
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

    package static func untrack(_ pid: pid_t) { state.withLock { _ = $0.pids.remove(pid) } }
}
#endif
