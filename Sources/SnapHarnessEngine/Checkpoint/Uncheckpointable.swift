#if os(Linux)
import Foundation

/// What a process tree may hold that CRIU cannot checkpoint, found before the dump so the reason is said in the
/// user's terms: CRIU's own words for an io_uring are "send_fds failed (-22)", and a terminal makes a snapshot that
/// can never be restored. Lambda's microVM snapshots both; here the function is told what to close and where.
enum Uncheckpointable {
    /// One line per open file CRIU cannot take, with the process that holds it.
    static func find(in root: pid_t) -> [String] {
        var found: [String] = []
        for pid in [root] + ProcFile.descendants(of: root) {
            let folder = "/proc/\(pid)/fd"
            for fd in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/" + fd) else { continue }
                let what: String
                if target == "anon_inode:[io_uring]" {
                    what = "an io_uring instance"
                } else if target.hasPrefix("/dev/pts/") || target == "/dev/ptmx" || target.hasPrefix("/dev/tty") && target != "/dev/tty" {
                    what = "a terminal (\(target))"
                } else {
                    continue
                }
                found.append("pid \(pid) (\(ProcFile.commandLine(pid))) holds \(what) as descriptor \(fd)")
            }
        }
        return found
    }

    static let fix = "CRIU cannot checkpoint it (Lambda's SnapStart snapshots a whole microVM): close it in a "
        + "before-snapshot hook and open it again in an after-restore hook, or create it in the handler"
}
#endif
