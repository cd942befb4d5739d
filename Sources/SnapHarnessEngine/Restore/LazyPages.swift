#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// The page server of a lazy restore: `criu lazy-pages`, one per restored copy. CRIU restores the registers and
/// mappings, the copy runs at once, and this daemon fills each page when the copy first touches it (userfaultfd),
/// pushing the rest in the background, like Lambda loading a snapshot's chunks on demand. It exits once every page
/// is in: that moment is reported beside the first response.
///
/// It shares its work folder with the restore (CRIU's socket between the two lives there); the folder goes once
/// both are done.
public final class LazyPages: Sendable {
    let daemon: ChildProcess
    let workDirectory: String
    private let started: Double
    /// Milliseconds from `started` until the last page was in; nil while pages are still arriving.
    private let finished = Mutex<Double?>(nil)
    private let stopped = Mutex(false)
    /// Left by the waiter once the daemon is reaped (and the work folder removed, if the restore call was done).
    private let waiting = DispatchGroup()
    /// Who still uses the work folder: the daemon, and the restore call, whose criu swrk writes `stats-restore`
    /// there once the copy runs, which can be after the daemon has pushed every page. The last one removes it.
    private let folderUsers: Mutex<Int>

    /// Whether this process may use userfaultfd, which lazy restores need.
    public static func userfaultfdAvailable() -> Bool {
        if access("/dev/userfaultfd", R_OK | W_OK) == 0 { return true }
        return geteuid() == 0 && access("/proc/sys/vm/unprivileged_userfaultfd", F_OK) == 0
    }

    /// Starts the daemon for `images` in `workDirectory` and waits until it listens. `removeWhenDone`: the work
    /// folder goes once the daemon and the restore call (`restoreCallEnded`) are both done (a restore's scratch;
    /// the benchmark keeps its own).
    package static func start(criu: Criu, images: String, workDirectory: String, started: Double, removeWhenDone: Bool = true,
                      onAllPages: (@Sendable (Double) -> Void)? = nil) throws -> LazyPages {
        guard userfaultfdAvailable() else {
            throw HarnessError.input("--lazy needs userfaultfd, which this kernel does not offer to this process "
                                     + "(/dev/userfaultfd, or vm.unprivileged_userfaultfd=1); restore without --lazy")
        }
        let status = try FD.pipe()
        let process: ChildProcess
        do {
            process = try CommandSpawn.spawn(
                [criu.binary, "lazy-pages", "-D", images, "-W", workDirectory, "-o", "lazy-pages.log", "-v2",
                 "--status-fd", "3"], fds: [(status.write, 3)], outputFile: workDirectory + "/criu.out")
        } catch { FD.close(status.read); FD.close(status.write); throw error }
        FD.close(status.write)
        // "\0" once it listens; EOF if it died. Waited for in short polls: a SIGINT, or a daemon that never gets
        // there, must not leave the restore waiting on this pipe for good (and the daemon running after it).
        var byte: UInt8 = 1
        var n = -1
        let deadline = Clock.now + 30
        while n < 0 && Clock.now < deadline && Interrupts.received == nil {
            var p = pollfd(fd: status.read, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) > 0 { n = read(status.read, &byte, 1) }
        }
        FD.close(status.read)
        guard n == 1 else {
            _ = process.terminate()
            try Interrupts.check()
            throw CriuError(operation: "lazy-pages daemon start", code: 0, logPath: workDirectory + "/lazy-pages.log")
        }
        let pages = LazyPages(daemon: process, workDirectory: workDirectory, started: started,
                              folderUsers: removeWhenDone ? 2 : 0)
        pages.waiting.enter()
        let waiter = Thread {
            let exited = process.wait() != nil
            let ms = (Clock.now - started) * 1000
            // Before anyone hears the daemon is done: a snapharness that exits right after `waitUntilComplete` or
            // `stop` must not leave the folder in /tmp.
            pages.folderReleased()
            let wasStopped = pages.stopped.withLock { $0 }
            if exited && !wasStopped {
                pages.finished.withLock { $0 = ms }
                onAllPages?(ms)
            }
            pages.waiting.leave()
        }
        waiter.name = "snapharness-lazy-pages"
        waiter.start()
        return pages
    }

    private init(daemon: ChildProcess, workDirectory: String, started: Double, folderUsers: Int) {
        self.daemon = daemon
        self.workDirectory = workDirectory
        self.started = started
        self.folderUsers = Mutex(folderUsers)
    }

    /// The restore call that uses this daemon has returned (its criu swrk has exited).
    package func restoreCallEnded() { folderReleased() }

    private func folderReleased() {
        let last = folderUsers.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return n == 0
        }
        if last { try? FileManager.default.removeItem(atPath: workDirectory) }
    }

    /// When the last page arrived, in milliseconds from the start of the restore (nil: not yet).
    public var allPagesMs: Double? { finished.withLock { $0 } }

    /// Waits until every page is in (or `timeout` seconds); returns the time it took.
    @discardableResult
    public func waitUntilComplete(timeout: Double) -> Double? {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if let ms = allPagesMs { return ms }
            if stopped.withLock({ $0 }) { return nil }
            usleep(1000)
        }
        return allPagesMs
    }

    /// Ends the daemon (the copy is gone, or the restore failed) and waits (5 s at most) until its waiter has
    /// reaped it and, the restore call being done, removed the work folder: nothing outlives the snapharness that
    /// stops it.
    package func stop() {
        stopped.withLock { $0 = true }
        daemon.signal(SIGKILL)
        _ = waiting.wait(timeout: .now() + 5)
    }
}
#endif
