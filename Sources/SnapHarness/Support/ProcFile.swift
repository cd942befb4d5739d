#if os(Linux)
import Foundation

/// Reading /proc: `String(contentsOfFile:)` stops after the first 4 KiB of a /proc file (it trusts st_size 0 and
/// does a single read), which silently truncates mountinfo and maps.
public enum ProcFile {
    public static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
#endif
