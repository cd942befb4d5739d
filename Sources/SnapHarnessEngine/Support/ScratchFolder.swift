#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// Temporary folders named `<prefix>-<pid>-XXXXXX`: the pid lets a later snapharness remove what a killed one
/// (SIGKILL, a crash) could not, the first time it makes a folder of the same kind.
public enum ScratchFolder {
    private static let swept = Mutex<Set<String>>([])

    /// Makes a fresh folder (mode `mode`) and, once per prefix and process, removes those of dead processes.
    /// `release` undoes what such a folder still holds outside itself (a mount on a file in it, a process named in
    /// it) before it is removed.
    public static func make(_ prefix: String, mode: mode_t = 0o700, release: ((String) -> Void)? = nil) throws -> String {
        let first = swept.withLock { $0.insert(prefix).inserted }
        if first { sweep(prefix, release: release) }
        var template = Array("\(prefix)-\(getpid())-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp \(prefix)-\(getpid())-XXXXXX") }
        let path = String(cString: made)
        chmod(path, mode)
        return path
    }

    /// Removes `<prefix>-<pid>-*` folders whose process is gone.
    static func sweep(_ prefix: String, release: ((String) -> Void)? = nil) {
        let parent = (prefix as NSString).deletingLastPathComponent
        let stem = (prefix as NSString).lastPathComponent + "-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(stem) {
            let rest = name.dropFirst(stem.count)
            let digits = rest.prefix { $0.isNumber }
            guard rest.dropFirst(digits.count).first == "-", let pid = Int32(digits), pid != getpid(),
                  ProcFile.hasEnded(pid) else { continue }
            release?(parent + "/" + name)
            try? FileManager.default.removeItem(atPath: parent + "/" + name)
        }
    }
}
#endif
