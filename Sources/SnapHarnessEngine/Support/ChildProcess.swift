#if os(Linux)
import CSandbox
import Glibc
import Synchronization

/// A child of the supervisor (spawned or restored), reaped by its own pid only: `wait(-1)` would steal other
/// waiters' children, including the `criu swrk` helpers libcriu waits for.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let status = Mutex<ExitStatus?>(nil)

    package init(pid: pid_t) {
        self.pid = pid
        Interrupts.track(pid)
    }

    /// The exit status if the process has ended (and reaps it), nil while it runs.
    public func poll() -> ExitStatus? {
        status.withLock { current in
            if let current { return current }
            var raw: Int32 = 0
            let r = waitpid(pid, &raw, WNOHANG)
            if r == pid {
                current = ExitStatus(waitStatus: raw)
                Interrupts.untrack(pid)
            }
            return current
        }
    }

    /// Waits up to `timeout` seconds (nil: forever) for the process to end.
    @discardableResult
    public func wait(timeout: Double? = nil) -> ExitStatus? {
        if let done = poll() { return done }
        let fd = sh_pidfd_open(pid)
        defer { FD.close(fd) }
        let deadline = timeout.map { Clock.now + $0 }
        while true {
            if let done = poll() { return done }
            var remaining: Int32 = -1
            if let deadline {
                let left = deadline - Clock.now
                if left <= 0 { return nil }
                remaining = Int32(min(left * 1000, 1000).rounded(.up))
            }
            if fd >= 0 {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = Glibc.poll(&p, 1, remaining < 0 ? 1000 : remaining)
            } else {
                usleep(2000) // no pidfd: fall back to short sleeps
            }
        }
    }

    /// Sends a signal unless the process was already reaped (its pid may belong to someone else by then).
    public func signal(_ sig: Int32) {
        status.withLock { current in
            if current == nil { _ = kill(pid, sig) }
        }
    }

    /// SIGKILL and reap: the end of every failure path, so nothing is left running or frozen.
    @discardableResult
    public func terminate() -> ExitStatus? {
        signal(SIGKILL)
        return wait(timeout: 10)
    }
}

/// Monotonic seconds, for deadlines and durations.
public enum Clock {
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
#endif
