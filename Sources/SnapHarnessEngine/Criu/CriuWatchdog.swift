#if os(Linux)
import CCriu
import CSandbox
import Foundation
import Glibc
import Synchronization

/// A deadline on one blocking libcriu call. A call only returns when `criu swrk` answers, and a restore whose tasks
/// hang (a damaged image makes CRIU's restorer spin) never answers. The watchdog learns the swrk's pid (libcriu)
/// and the restored root task's pid (CRIU's setup-namespaces notification); past the deadline or on
/// SIGINT/SIGTERM it kills the root task (which makes CRIU fail the call), and 2 s later the swrk with its
/// helpers. What CRIU leaves behind when killed (its /tmp/.criu.mntns.* yard) is removed.
final class CriuWatchdog: @unchecked Sendable {
    private let opts: CriuOptions
    private let deadline: Double
    private let started = Date()
    /// Written by the notify callback on the calling thread, read by the watchdog thread.
    let rootSlot: UnsafeMutablePointer<Int32>
    private let finished = Atomic<Bool>(false)
    private let fired = Atomic<Bool>(false)
    private let thread = DispatchSemaphore(value: 0)
    /// Signalled when the call returns, so `finish` never waits out a polling interval.
    private let wake = DispatchSemaphore(value: 0)
    private static let inFlight = Mutex(0)

    /// Arms the watchdog for the call about to be made on `opts` from this thread.
    init(opts: CriuOptions, seconds: Double) {
        self.opts = opts
        self.deadline = Clock.now + seconds
        rootSlot = .allocate(capacity: 1)
        rootSlot.initialize(to: 0)
        sh_set_thread_slot(rootSlot)
        criu_local_set_notify_cb(opts.raw) { action, notify in
            // Only the root pid matters here; every notification is acknowledged.
            if let action, let notify, let slot = sh_thread_slot() {
                let name = String(cString: action)
                if name == "setup-namespaces" || name == "post-restore" {
                    sh_atomic_store_int(slot, criu_notify_pid(notify))
                }
            }
            return 0
        }
        CriuWatchdog.inFlight.withLock { $0 += 1 }
        let t = Thread { [self] in watch() }
        t.name = "snapharness-criu-watchdog"
        t.start()
    }

    /// Polls until the call returns. Once fired it keeps polling: the swrk may not exist yet when a signal lands
    /// just before the call (libcriu forks it inside the call), and a watchdog that stopped looking then would
    /// leave a dump of an already-killed function waiting on CRIU forever.
    private func watch() {
        var tracked: [pid_t] = []
        var firedAt: Double?
        var killedRoot: pid_t = 0, killedSwrk = false
        while !finished.load(ordering: .acquiring) {
            let swrk = criu_local_get_swrk_pid(opts.raw)
            let root = sh_atomic_load_int(rootSlot)
            // The root is a function process: the interrupt handler kills it at once. The swrk is left to this
            // thread, which kills it with its helpers.
            if root > 0 && !tracked.contains(root) {
                tracked.append(root)
                Interrupts.track(root)
            }
            if firedAt == nil && (Clock.now >= deadline || Interrupts.received != nil) {
                firedAt = Clock.now
                fired.store(true, ordering: .releasing)
            }
            if let firedAt {
                // The root first: CRIU sees its task die and fails the call with its own reason.
                if root > 0 && root != killedRoot { kill(root, SIGKILL); killedRoot = root }
                // The swrk only if that did not end the call (it is libcriu's child, so its pid is not reused
                // before the call returns).
                if !killedSwrk && swrk > 0 && Clock.now - firedAt >= 2 { Self.killTree(swrk); killedSwrk = true }
            }
            _ = wake.wait(timeout: .now() + .milliseconds(5))
        }
        for pid in tracked { Interrupts.untrack(pid) }
        thread.signal()
    }

    /// CRIU forks helpers that inherit the swrk's socket; killed alone, the swrk leaves libcriu waiting on a
    /// socket that a helper (now init's child, asleep) still holds, forever. Descendants are listed before the
    /// swrk dies, while they are still its children.
    private static func killTree(_ swrk: pid_t) {
        let helpers = ProcFile.descendants(of: swrk)
        kill(swrk, SIGKILL)
        for pid in helpers { kill(pid, SIGKILL) }
    }

    /// Disarms the watchdog once the call returned; true if it had to stop the call. A restored root task it
    /// killed is our child (CRIU restores it as our sibling's): it is reaped here.
    func finish() -> Bool {
        finished.store(true, ordering: .releasing)
        wake.signal()
        thread.wait()
        let root = sh_atomic_load_int(rootSlot)
        sh_set_thread_slot(nil)
        criu_local_set_notify_cb(opts.raw, nil)
        rootSlot.deallocate()
        // The interrupt handler may have killed the swrk itself before this thread noticed the signal.
        let killed = fired.load(ordering: .acquiring) || Interrupts.received != nil
        if killed && root > 0 { ChildProcess(pid: root).terminate() }
        let last = CriuWatchdog.inFlight.withLock { n -> Bool in n -= 1; return n == 0 }
        // Its yard, made since the call began (only once no other call of this process runs).
        if killed && last { CriuYards.remove(madeSince: started.timeIntervalSince1970 - 1, waitingUpTo: 1) }
        return killed
    }
}
#endif
