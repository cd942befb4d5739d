#if os(Linux)
import CSandbox
import Glibc

/// Small wrappers over descriptors the supervisor passes to children and to CRIU.
package enum FD {
    /// A pipe whose ends are both close-on-exec; whoever passes an end on clears the flag deliberately.
    static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        try retryingEINTR("pipe2") { sh_pipe_cloexec(&fds) }
        return (fds[0], fds[1])
    }

    package static func close(_ fd: Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    static func setCloseOnExec(_ fd: Int32, _ on: Bool) throws {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0 else { throw SystemError("fcntl(F_GETFD)") }
        let new = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC
        guard fcntl(fd, F_SETFD, new) == 0 else { throw SystemError("fcntl(F_SETFD)") }
    }

    /// The inode of a pipe or socket: CRIU names such files `pipe:[INO]` / `socket:[INO]`.
    static func inode(_ fd: Int32) throws -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat") }
        return UInt64(st.st_ino)
    }

    /// Opens a directory for use as an *at() base or as CRIU's images/work dir.
    static func openDirectory(_ path: String) throws -> Int32 {
        try retryingEINTR("open \(path)") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    }

    /// Writes all of `bytes`, retrying short writes and EINTR. Sockets are written with MSG_NOSIGNAL: a peer
    /// that died (a crashed runtime) is an EPIPE error here, never a SIGPIPE that kills the supervisor.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        var socket = true
        while offset < bytes.count {
            let n = try bytes.withUnsafeBytes { buf throws in
                try retryingEINTR("write") { () -> Int in
                    if socket {
                        let r = Glibc.send(fd, buf.baseAddress! + offset, buf.count - offset, Int32(MSG_NOSIGNAL))
                        if r >= 0 || errno != ENOTSOCK { return r }
                        socket = false
                    }
                    return write(fd, buf.baseAddress! + offset, buf.count - offset)
                }
            }
            offset += n
        }
    }
}
#endif

/// Descriptors the supervisor inherited from whoever started it (a test runner's exit-watch socket, a shell's
/// redirections). libcriu starts `criu swrk` with posix_spawn, which passes on every descriptor without
/// close-on-exec: a CRIU helper left behind would then hold the parent's socket or pipe and make it wait forever.
public enum InheritedDescriptors {
    /// Marks every descriptor above stderr close-on-exec, once, before anything is spawned.
    public static func keepFromChildren() {
        _ = sh_cloexec_from(3)
    }
}
