#if os(Linux)
import CSandbox
import Foundation
import Synchronization

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
    /// nil: not asked yet; -1: asked (being opened, or refused); else the event's descriptor, never closed.
    private static let event = Mutex<Int32?>(nil)

    static func hold() {
        let first = event.withLock { fd -> Bool in
            defer { if fd == nil { fd = -1 } }
            return fd == nil
        }
        guard first else { return }
        let opener = Thread {
            let fd = sh_perf_task_event_open()
            if fd >= 0 { event.withLock { $0 = fd } }
        }
        opener.name = "snapharness-perf-key"
        opener.start()
    }
}
#endif
