#if os(Linux)
import Foundation
import Glibc

/// What Lambda checks of a zip function's code and layers before it runs anything, checked here before Init: at
/// most 5 layers, at most 250 MB unzipped for the function and its layers together, and only files, folders and
/// links (a FIFO would hang the snapshot's copy of the code, a device has no place in a package). The walk never
/// enters /proc, /sys or /dev (`--layer /` is refused at once, not after gigabytes were copied).
public enum DeploymentPackage {
    /// Lambda's quota: 250 MB unzipped, function and layers together (262,144,000 bytes).
    public static let maxUnzippedBytes: UInt64 = 262_144_000
    public static let maxLayers = 5

    public static func check(code: String, layers: [String]) throws {
        guard layers.count <= maxLayers else {
            throw HarnessError.input("\(layers.count) layers: Lambda allows at most \(maxLayers) per function; merge some "
                                     + "of them into one layer")
        }
        var total: UInt64 = 0
        for root in [code] + layers {
            try walk(root) { path, st in
                total += UInt64(max(0, st.st_size))
                guard total <= maxUnzippedBytes else {
                    throw HarnessError.input("the function and its layers hold more than 250 MB (\(maxUnzippedBytes) "
                        + "bytes, Lambda's limit for a zip deployment package unzipped); counting stopped at \(path). "
                        + "Move large files out of the package (S3, a container image) or remove what the function "
                        + "does not need")
                }
            }
        }
    }

    /// /proc, /sys and /dev (but not the tmpfs at /dev/shm, where snapshots and scratch folders may live).
    static func isSystemTree(_ path: String) -> Bool {
        if path == "/dev/shm" || path.hasPrefix("/dev/shm/") { return false }
        return ["/proc", "/sys", "/dev"].contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// Calls `visit` for every entry under `root` (not following links), refusing special files and system trees.
    static func walk(_ root: String, visit: (String, stat) throws -> Void) throws {
        func refuseSystem(_ folder: String) throws {
            if isSystemTree(folder) {
                throw HarnessError.input("\(root) reaches \(folder), a kernel or device file system: a function's code or "
                                         + "layer is a folder of its own files (was `/` or a system folder passed?)")
            }
        }
        var pending = [SnapshotDirectory.absolute(root)]
        try refuseSystem(pending[0])
        while let folder = pending.popLast() {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for name in names.sorted() {
                let path = folder == "/" ? "/" + name : folder + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    try refuseSystem(path)
                    pending.append(path)
                case S_IFREG, S_IFLNK: break
                default:
                    let kind = (st.st_mode & S_IFMT) == S_IFIFO ? "a FIFO" : (st.st_mode & S_IFMT) == S_IFSOCK ? "a socket"
                        : "a device file"
                    throw HarnessError.input("\(path) is \(kind): a deployment package holds only files, folders and "
                                             + "links (Lambda's zip cannot carry it, and copying it would hang). Remove it")
                }
                try visit(path, st)
            }
        }
    }
}
#endif
