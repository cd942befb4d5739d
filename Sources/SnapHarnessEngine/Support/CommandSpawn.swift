#if os(Linux)
import CSandbox
import Foundation
import Glibc

/// Starts a plain program (pasta for an environment's network, the `criu` command line for the benchmark's floors)
/// with chosen descriptors placed at chosen numbers, through posix_spawn: no Swift code runs in the child, so it is
/// safe from this multi-threaded process. The child inherits nothing else: every descriptor of this process is close-on-exec (the harness opens
/// them so) and the sources are passed through close-on-exec duplicates.
package enum CommandSpawn {
    /// Spawns `argv` with `fds` (source in this process -> number in the child) and stdin/stdout/stderr on
    /// /dev/null, or stdout/stderr appended to `outputFile`. Returns the child; reap it with `wait`/`terminate`.
    /// `errorFile`: stderr apart from stdout.
    package static func spawn(_ argv: [String], fds: [(source: Int32, target: Int32)] = [], outputFile: String? = nil,
                      errorFile: String? = nil) throws -> ChildProcess {
        // Move every source above the targets first, so one dup2 can never clobber the source of a later one.
        var moved: [(Int32, Int32)] = []
        defer { moved.forEach { FD.close($0.0) } }
        for (source, target) in fds {
            let high = fcntl(source, F_DUPFD_CLOEXEC, 100)
            guard high >= 0 else { throw SystemError("fcntl(F_DUPFD_CLOEXEC)") }
            moved.append((high, target))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let out = outputFile ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorFile {
            posix_spawn_file_actions_addopen(&actions, 2, errorFile, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        for (high, target) in moved { posix_spawn_file_actions_adddup2(&actions, high, target) }
        // Descriptors a concurrent restore briefly leaves inheritable (its stdio pipes, its network namespace) must
        // not reach a long-lived child such as pasta: it would hold a copy's output open.
        _ = sh_spawn_actions_closefrom(&actions, (fds.map(\.target).max() ?? 2) + 1)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = cArgs.withUnsafeBufferPointer { args in
            posix_spawn(&pid, argv[0], &actions, &attr, args.baseAddress!, environ)
        }
        guard rc == 0 else { throw SystemError("posix_spawn \(argv[0])", errno: rc) }
        return ChildProcess(pid: pid)
    }
}
#endif
