#if os(Linux)
import Glibc

/// The function's stdin/stdout/stderr are pipes to the supervisor. CRIU records each pipe by inode; on restore the
/// same keys (`pipe:[INO]`) are handed fresh pipes with inherit-fd, otherwise the restored process's first write
/// hits a dead pipe (EPIPE) and the runtime dies.
public struct StdioKeys: Codable, Sendable, Equatable {
    public var stdin: String
    public var stdout: String
    public var stderr: String

    /// (fd in the function, CRIU key) pairs for inherit-fd.
    package var byFD: [(Int32, String)] { [(0, stdin), (1, stdout), (2, stderr)] }
}

/// One set of pipes: the child's ends go to the sandboxed (or restored) process, the supervisor keeps the rest.
package struct StdioPipes {
    let childStdin: Int32, childStdout: Int32, childStderr: Int32
    package let stdoutRead: Int32, stderrRead: Int32

    /// `stdin` is written into the pipe before its write end is closed: the function reads it, then EOF.
    /// The lifecycle uses it to tell the function (or each restored copy) where its control socket is.
    package static func make(stdin: [UInt8] = []) throws -> StdioPipes {
        let input = try FD.pipe()
        defer { FD.close(input.write) }
        if !stdin.isEmpty {
            do { try FD.writeAll(input.write, stdin) } catch { FD.close(input.read); throw error }
        }
        let out = try FD.pipe()
        let err = try FD.pipe()
        return StdioPipes(childStdin: input.read, childStdout: out.write, childStderr: err.write,
                          stdoutRead: out.read, stderrRead: err.read)
    }

    var keys: StdioKeys {
        get throws {
            StdioKeys(stdin: "pipe:[\(try FD.inode(childStdin))]", stdout: "pipe:[\(try FD.inode(childStdout))]",
                      stderr: "pipe:[\(try FD.inode(childStderr))]")
        }
    }

    package var childEnds: [Int32] { [childStdin, childStdout, childStderr] }

    /// After the child (or CRIU) holds its ends, the supervisor must drop them or it never sees EOF.
    package func closeChildEnds() { childEnds.forEach(FD.close) }

    package func closeAll() {
        closeChildEnds()
        FD.close(stdoutRead)
        FD.close(stderrRead)
    }

    /// Starts line readers on the supervisor's ends; end-of-invocation marks go to `marks`, not to `sink`.
    func startReaders(marks: OutputMarks, _ sink: @escaping @Sendable (OutputStreamKind, String) -> Void) -> [LineReader] {
        func reader(_ fd: Int32, _ kind: OutputStreamKind) -> LineReader {
            LineReader(fd: fd) { line in
                let (text, _) = marks.filter(line)
                if let text { sink(kind, text) }
            }
        }
        return [reader(stdoutRead, .stdout), reader(stderrRead, .stderr)]
    }
}
#endif
