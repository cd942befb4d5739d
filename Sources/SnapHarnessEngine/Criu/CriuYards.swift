#if os(Linux)
import Foundation
import Glibc

/// CRIU's mount-namespace yards, /tmp/.criu.mntns.XXXXXX (a tmpfs on a 0777 folder), which a CRIU killed mid-call
/// leaves behind. A yard's name does not say whose it is, and unmounting the yard of a restore in flight (another
/// snapharness's) fails it ("Can't remount root with MS_PRIVATE"): yards are removed only while no CRIU runs on the
/// machine, and they are listed before that check, so a CRIU that starts after it makes one not on the list.
enum CriuYards {
    /// Removes the yards made since `since` (seconds since 1970; nil: any), once no CRIU runs, waiting up to
    /// `seconds` for the dying processes of a killed call (or forked tasks that never got their own name).
    static func remove(madeSince since: Double?, waitingUpTo seconds: Double) {
        let yards = ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { name in
            var st = stat()
            return name.hasPrefix(".criu.mntns.") && lstat("/tmp/" + name, &st) == 0
                && since.map { Double(st.st_ctim.tv_sec) >= $0 } ?? true
        }
        guard !yards.isEmpty, noCriuRuns(within: seconds) else { return }
        for name in yards {
            _ = umount2("/tmp/" + name, Int32(MNT_DETACH))
            rmdir("/tmp/" + name) // only an empty one: a live yard's files are never removed
        }
    }

    /// Once per process, on a thread: the yards of CRIUs killed earlier (by a SIGKILLed snapharness, or while
    /// another CRIU ran), when no CRIU runs now.
    static func sweepOnce() { _ = swept }

    private static let swept: Void = { // a static's initializer runs once
        let sweeper = Thread { remove(madeSince: nil, waitingUpTo: 0) }
        sweeper.name = "snapharness-criu-yards"
        sweeper.start()
    }()

    private static func noCriuRuns(within seconds: Double) -> Bool {
        let deadline = Clock.now + seconds
        while true {
            let running = ProcFile.entries("/proc").contains { entry in
                guard let pid = Int32(entry) else { return false }
                // "criu", or a renamed binary ($SNAPHARNESS_CRIU) starting with it
                return ProcFile.read("/proc/\(pid)/comm")?.hasPrefix("criu") == true && !ProcFile.hasEnded(pid)
            }
            if !running { return true }
            if Clock.now >= deadline { return false }
            usleep(20_000)
        }
    }
}
#endif
