#if os(Linux)
import CSandbox
import Glibc

/// A function process with its output plumbed to the supervisor: either freshly spawned or restored by CRIU.
public final class SandboxedProcess: Sendable {
    public let process: ChildProcess
    /// CRIU's names for this process's stdio pipes (recorded in the snapshot, matched again on restore).
    public let stdio: StdioKeys
    let readers: [LineReader]
    /// End-of-invocation marks seen in the output.
    let marks: OutputMarks
    /// The page server of a lazy restore, until every page is in or the process ends.
    public let lazyPages: LazyPages?
    /// The environment's root and the host folders bound in it: a checkpoint names each bind as CRIU external.
    public let root: EnvironmentRoot?
    public let mounts: [SandboxMount]

    init(process: ChildProcess, stdio: StdioKeys, readers: [LineReader], marks: OutputMarks, lazyPages: LazyPages? = nil,
         root: EnvironmentRoot? = nil, mounts: [SandboxMount] = []) {
        self.root = root
        self.mounts = mounts
        self.process = process
        self.stdio = stdio
        self.readers = readers
        self.marks = marks
        self.lazyPages = lazyPages
    }

    public var pid: pid_t { process.pid }

    /// Waits until the process and all its output are done.
    @discardableResult
    public func waitForExit(timeout: Double? = nil) -> ExitStatus? {
        guard let status = process.wait(timeout: timeout) else { return nil }
        lazyPages?.stop()
        for r in readers { r.waitForEOF(timeout: 5) }
        return marks.runtimeStatus(for: status)
    }

    /// Kills and reaps; safe to call more than once.
    @discardableResult
    public func terminate() -> ExitStatus? {
        let status = process.terminate()
        lazyPages?.stop()
        for r in readers { r.waitForEOF(timeout: 5) }
        return status.map(marks.runtimeStatus(for:))
    }

    /// Starts `spec` in a new sandbox; `onOutput` receives each line the function prints.
    public static func spawn(_ spec: SandboxSpec, stdin: [UInt8] = [],
                             onOutput: @escaping @Sendable (OutputStreamKind, String) -> Void) throws -> SandboxedProcess {
        let pipes = try StdioPipes.make(stdin: stdin)
        let keys: StdioKeys
        do { keys = try pipes.keys } catch { pipes.closeAll(); throw error }

        // C strings are copied before clone: the child must not allocate.
        let argv = ([spec.executable] + spec.arguments).map { strdup($0) } + [nil]
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let cwd = strdup(spec.workingDirectory ?? "/")
        let path = strdup(spec.executable)
        let root: EnvironmentRoot
        do {
            root = try spec.root ?? EnvironmentRoot.prepare(user: spec.user.map { FunctionUser(name: "function", uid: $0.uid, gid: $0.gid) }
                                                                 ?? FunctionUser(name: "root", uid: 0, gid: 0))
        } catch { pipes.closeAll(); throw error }
        let mounts = root.systemBinds + spec.binds.map { SandboxMount(source: $0.source, target: $0.target) }
        var joins: [Int32] = []
        for file in spec.cgroup?.procsFiles ?? [] {
            let fd = open(file, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { let e = SystemError("open \(file)"); joins.forEach(FD.close); pipes.closeAll(); throw e }
            joins.append(fd)
        }
        defer { joins.forEach(FD.close) }
        let bindSources = mounts.map { strdup($0.source) } + [nil]
        let bindTargets = mounts.map { strdup($0.target) } + [nil]
        let rootPath = strdup(root.path), hostname = strdup(EnvironmentRoot.hostname)
        defer {
            (argv + envp + bindSources + bindTargets + [cwd, path, rootPath, hostname]).forEach { free($0) }
        }
        var config = sh_spawn_config()
        config.path = UnsafePointer(path)
        let result = argv.withUnsafeBufferPointer { argvBuf in
            envp.withUnsafeBufferPointer { envBuf in
            bindSources.withUnsafeBufferPointer { sourcesBuf in bindTargets.withUnsafeBufferPointer { targetsBuf in
                config.argv = argvBuf.baseAddress
                config.envp = envBuf.baseAddress
                config.cwd = UnsafePointer(cwd)
                config.stdin_fd = pipes.childStdin
                config.stdout_fd = pipes.childStdout
                config.stderr_fd = pipes.childStderr
                config.namespaces = Int32(SH_NS_PID | SH_NS_MOUNT | SH_NS_IPC | SH_NS_UTS)
                config.tmp_bytes = spec.tmpBytes
                config.uid = spec.user?.uid ?? UInt32.max
                config.gid = spec.user?.gid ?? UInt32.max
                config.root = UnsafePointer(rootPath)
                config.hostname = UnsafePointer(hostname)
                config.bind_sources = sourcesBuf.baseAddress
                config.bind_targets = targetsBuf.baseAddress
                config.max_files = spec.maxFiles
                config.max_processes = spec.maxProcesses
                config.join_fds = (joins.count > 0 ? joins[0] : -1, joins.count > 1 ? joins[1] : -1,
                                   joins.count > 2 ? joins[2] : -1)
                config.netns_fd = spec.network?.fd ?? 0
                config.tmp_mount_fd = max(spec.tmpMount, 0)
                return sh_spawn(&config)
            } } }
        }
        pipes.closeChildEnds()
        guard result.pid > 0 else {
            FD.close(pipes.stdoutRead)
            FD.close(pipes.stderrRead)
            throw SandboxError.spawnFailed(executable: spec.executable, stage: String(cString: sh_stage_name(result.stage)),
                                           errno: result.error)
        }
        let marks = OutputMarks()
        let readers = pipes.startReaders(marks: marks, onOutput)
        return SandboxedProcess(process: ChildProcess(pid: result.pid), stdio: keys, readers: readers, marks: marks,
                                root: root, mounts: mounts)
    }
}

public enum SandboxError: Error, CustomStringConvertible {
    case spawnFailed(executable: String, stage: String, errno: Int32)

    public var description: String {
        switch self {
        case let .spawnFailed(exe, stage, code):
            var text = "could not start \(exe) in its sandbox: \(stage) failed: \(String(cString: strerror(code)))"
            if code == EPERM { text += ". snapharness needs root (CAP_SYS_ADMIN) to create namespaces; run it with sudo" }
            if stage == "exec" && code == ENOENT { text += ". Check that the program exists and is executable" }
            return text
        }
    }
}
#endif
