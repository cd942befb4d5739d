#if os(Linux)
import Foundation
import Glibc

/// Reading /proc: `String(contentsOfFile:)` stops after the first 4 KiB of a /proc file (it trusts st_size 0 and
/// does a single read), which silently truncates mountinfo and maps.
public enum ProcFile {
    public static func read(_ path: String) -> String? {
        // open/read/close: serve reads a few of these per invocation, and FileHandle + Data cost several times more.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return read(fd: fd) ?? ""
    }

    /// A file's text read whole from an open descriptor, from offset 0 (the kernel writes a /proc or cgroup file
    /// anew for each read from 0, so a kept descriptor reads the current value).
    static func read(fd: Int32) -> String? {
        readBytes(fd: fd).map { String(decoding: $0, as: UTF8.self) }
    }

    static func readBytes(fd: Int32) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && bytes.isEmpty { return nil }
            guard n > 0 else { break }
            bytes += chunk[..<n]
        }
        return bytes
    }

    /// Whether process `pid` has ended: gone, or a zombie its parent has not reaped yet (a killed snapharness
    /// whose parent is slow to reap it holds nothing any more, and its leftovers are for the next one to remove).
    package static func hasEnded(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let state = read("/proc/\(pid)/stat").flatMap(statFields)?.first else { return true }
        return state == "Z" || state == "X"
    }

    /// /proc/PID/stat's fields from the third on (state, ppid, ...; field N is at index N - 3): what follows the
    /// command name, which may itself hold spaces and parentheses.
    static func statFields(_ stat: String) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// Live children of `parent` (default: this process), from each /proc/PID/stat's ppid field.
    public static func children(of parent: Int32 = getpid()) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { self.parent(of: $0) == parent }.sorted()
    }

    /// The parent of `pid` (from /proc/PID/stat), nil when it has ended.
    public static func parent(of pid: Int32) -> Int32? {
        guard let fields = read("/proc/\(pid)/stat").flatMap(statFields), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// Every descendant of `root`, breadth first, from the kernel's per-thread children lists (one small read per
    /// process instead of a scan of all of /proc per level).
    public static func descendants(of root: Int32) -> [Int32] {
        var found: [Int32] = []
        var queue = [root]
        while let next = queue.first {
            queue.removeFirst()
            var kids: [Int32] = []
            for task in entries("/proc/\(next)/task") {
                kids += (read("/proc/\(next)/task/\(task)/children") ?? "").split(separator: " ").compactMap { Int32($0) }
            }
            found += kids
            queue += kids
        }
        return found
    }

    /// Whether a SIGKILL waits for the process whose /proc/PID/stat is `stat` (a process frozen by a v1 freezer keeps
    /// it pending until it is thawed): field 31, the pending signals (a SIGKILL is queued on every thread), cheaper for
    /// the kernel to write than `status` (serve asks before every thaw).
    package static func killPending(_ stat: KernelFile) -> Bool {
        guard let bytes = stat.readBytes(), let pending = statNumber(bytes, field: 28) else { return false }
        return pending & (1 << (UInt64(SIGKILL) - 1)) != 0
    }

    /// Field `index` of a /proc/PID/stat text (numbered as in `statFields`) as a number, parsed from the bytes: serve
    /// reads one before every thaw, and splitting the text into Strings cost more than the read.
    static func statNumber(_ stat: [UInt8], field index: Int) -> UInt64? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var field = -1, value: UInt64 = 0, digits = 0
        for byte in stat[(close + 1)...] {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") {
                if field == index { return digits > 0 ? value : nil }
                field += 1
                (value, digits) = (0, 0)
            } else if field == index {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                guard !o1 && !o2 else { return nil }
                (value, digits) = (sum, digits + 1)
            }
        }
        return field == index && digits > 0 ? value : nil
    }

    /// A folder's entries but . and .. (none when it cannot be read), by readdir: serve freezes a tree after every
    /// invocation, and FileManager's listing costs more than the rest of the walk.
    package static func entries(_ folder: String) -> [String] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A process's command line, arguments joined by spaces ("" when it has ended).
    public static func commandLine(_ pid: Int32) -> String {
        (read("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").joined(separator: " ")
    }
}
/// A /proc or cgroup file kept open: serve reads memory use, writes the freezer and reads a process's pending
/// signals on every invocation, and opening and closing a kernel file costs more than reading it.
package final class KernelFile: @unchecked Sendable {
    private let fd: Int32

    package init?(_ path: String, writable: Bool = false) {
        fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// The file's text as the kernel has it now.
    package func read() -> String? { ProcFile.read(fd: fd) }

    package func readBytes() -> [UInt8]? { ProcFile.readBytes(fd: fd) }

    /// Writes `text` in one call (cgroup files take a whole value per write).
    package func write(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return pwrite(fd, bytes, bytes.count, 0) == bytes.count
    }
}
#endif
