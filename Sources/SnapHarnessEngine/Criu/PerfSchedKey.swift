#if os(Linux)
import CSandbox
import Foundation

/// The kernel's perf scheduler hooks, kept on while this process may restore.
///
/// CRIU ends every restore by stopping the restored tasks on a hardware breakpoint, a per-task perf event. The first
/// such event on the machine turns the kernel's perf scheduler hooks on and waits an RCU grace period to do it (6-17 ms
/// on these machines, inside the restore, seen as CRIU in state D under `ptrace_register_breakpoint`); they go off
/// again a second after the last event goes. So a restore was 6-17 ms slower whenever no other restore had run in
/// the second before it. Holding one disabled dummy event for the process's life keeps them on; its own wait happens
/// once, on a thread, beside whatever comes before the first restore (Init, the environment's preparation).
/// Without perf events (no permission, a seccomp filter), nothing changes.
enum PerfSchedKey {
    static func hold() { _ = opened }

    /// Once per process (a static's initializer runs once), on a thread; the descriptor is never closed.
    private static let opened: Void = {
        let opener = Thread { _ = sh_perf_task_event_open() }
        opener.name = "snapharness-perf-key"
        opener.start()
    }()
}
#endif
