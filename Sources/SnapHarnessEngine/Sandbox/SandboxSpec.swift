#if os(Linux)
/// What to run in a sandbox: the function process and the isolation around it.
///
/// The process becomes pid 1 of its own pid namespace (so CRIU can restore many copies side by side, each in a new
/// pid namespace), session leader, in a mount namespace of its own rooted in an `EnvironmentRoot` (read-only, with
/// `binds` such as Lambda's folders, see `LambdaFilesystem`, its own /proc and /tmp, nothing of the host's mount
/// table), its own ipc and uts namespaces, and a network namespace of its own or the host's.
public struct SandboxSpec: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    /// Where the process starts; nil means "/". Never a folder under /tmp: the sandbox's private /tmp hides it
    /// (and CRIU then cannot dump a cwd it cannot see).
    public var workingDirectory: String?
    /// Size of the private /tmp (Lambda's default ephemeral storage is 512 MB).
    public var tmpBytes: UInt64
    /// Run the function as this user and group; nil keeps root.
    public var user: (uid: UInt32, gid: UInt32)?
    /// The folder that becomes "/"; nil: the root for `user` (`EnvironmentRoot.prepare`).
    public var root: EnvironmentRoot?
    /// Host folders bound read-only inside, in order, after the root's system folders (/usr): each target must be a
    /// folder of the root (/var/task, /var/runtime, /var/lang, /opt) or of an earlier bind.
    public var binds: [(source: String, target: String)] = []
    /// RLIMIT_NOFILE and RLIMIT_NPROC (0 keeps the supervisor's).
    public var maxFiles: UInt64 = 0
    public var maxProcesses: UInt64 = 0
    /// The environment's cgroup, joined before exec.
    public var cgroup: EnvironmentCgroup?
    /// The environment's network namespace, joined before exec (nil: the host's network).
    public var network: EnvironmentNetwork?
    /// A detached mount (`EphemeralStorage`) that becomes /tmp instead of a fresh tmpfs of `tmpBytes`; -1: none.
    public var tmpMount: Int32 = -1

    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:],
                workingDirectory: String? = nil, tmpBytes: UInt64 = 512 << 20,
                user: (uid: UInt32, gid: UInt32)? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.tmpBytes = tmpBytes
        self.user = user
    }
}
#endif
