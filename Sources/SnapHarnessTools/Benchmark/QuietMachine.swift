#if os(Linux)
import Foundation
import SnapHarnessEngine
import Glibc

/// Waits for the machine to go quiet before a measurement. A variant's teardown leaves the kernel work to do in the
/// background (a killed tree's memory freed, a network namespace and cgroups dismantled), and the variants keep one
/// relative order (rotated, not shuffled), so without the wait one variant would always pay for the one before it.
enum QuietMachine {
    /// Returns once the CPUs were at least 90% idle over a 25 ms window, or after `limit` seconds; the wait in seconds.
    @discardableResult
    static func wait(limit: Double = 1.0) -> Double {
        let start = Clock.now
        var last = cpuTimes()
        while Clock.now - start < limit {
            usleep(25_000)
            let now = cpuTimes()
            let busy = Double(now.busy - last.busy), total = Double(now.total - last.total)
            last = now
            if total > 0 && busy / total <= 0.1 { break }
        }
        return Clock.now - start
    }

    /// The machine's busy and total jiffies so far (the first line of /proc/stat; iowait counts as idle).
    static func cpuTimes() -> (busy: UInt64, total: UInt64) {
        guard let line = ProcFile.read("/proc/stat")?.split(separator: "\n").first else { return (0, 0) }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 5 else { return (0, 0) }
        let total = fields.prefix(8).reduce(0, +)
        return (total - fields[3] - fields[4], total)
    }
}
#endif
