#if os(Linux)
import CSandbox
import Foundation
import Glibc
import Synchronization

/// An execution environment's own network namespace, as each Lambda environment has its own network: the Init and
/// every restored copy get one, so sockets bound during Init (a listening TCP port, a UDP socket) are restored in
/// every copy without clashing, and the copies can't reach each other. `pasta` (package passt) gives it outbound
/// connectivity and maps the host's loopback services onto the same 127.0.0.1:PORT inside (a developer's local
/// database keeps working). CRIU dumps the namespace as external (`net[inode]`) and restores each copy into a
/// fresh one passed by descriptor.
///
/// Its folder, /run/snapharness/net-<pid>-XXXXXX, holds the namespace bound on a file (pasta's target) and pasta's
/// pid file; a later snapharness removes those of a killed one.
public final class EnvironmentNetwork: @unchecked Sendable {
    /// The namespace (nsfs descriptor, close-on-exec): joined by the Init's sandbox, inherited by CRIU on restore.
    public let fd: Int32
    public let inode: UInt64
    let folder: String
    private let removed = Mutex(false)

    /// CRIU's key for the namespace, in the dump's `--external net[inode]:key` and the restore's inherit-fd.
    public static let criuKey = "snapharness-net"
    static let base = "/run/snapharness/net"

    /// pasta, where Debian installs it (make deps).
    public static var pasta: String? {
        ["/usr/bin/pasta", "/usr/local/bin/pasta", "/usr/sbin/pasta"].first { access($0, X_OK) == 0 }
    }

    private init(fd: Int32, inode: UInt64, folder: String) {
        (self.fd, self.inode, self.folder) = (fd, inode, folder)
    }

    /// A fresh namespace with loopback up and pasta attached; pasta has configured it when this returns.
    public static func create() throws -> EnvironmentNetwork {
        guard let pasta else {
            throw HarnessError.input("pasta is not installed: each environment gets its own network through it. "
                                     + "Run `make deps` (it installs Debian's passt package)")
        }
        try FileManager.default.createDirectory(atPath: "/run/snapharness", withIntermediateDirectories: true)
        let folder = try ScratchFolder.make(base, release: releaseAbandoned)
        let fd = sh_netns_create()
        guard fd >= 0 else {
            let e = SystemError("creating a network namespace")
            try? FileManager.default.removeItem(atPath: folder)
            throw e
        }
        let inode: UInt64
        do { inode = try FD.inode(fd) } catch {
            FD.close(fd)
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
        // From here on a failure undoes everything as `remove` does.
        let network = EnvironmentNetwork(fd: fd, inode: inode, folder: folder)
        func fail(_ error: Error) -> Error {
            network.remove()
            return error
        }
        // pasta takes a namespace by path: the namespace is bound on a file (the sandbox detaches nsfs mounts, so
        // this never reaches a snapshot).
        let nsFile = folder + "/ns"
        let made = open(nsFile, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard made >= 0 else { throw fail(SystemError("create \(nsFile)")) }
        FD.close(made)
        guard mount("/proc/self/fd/\(fd)", nsFile, nil, UInt(MS_BIND), nil) == 0 else {
            throw fail(SystemError("bind the network namespace on \(nsFile)"))
        }
        // Bookworm's pasta (2023-03) needs --netns-only and --runas 0 to join a namespace made by root. It configures
        // the namespace, then forks into the background (writing its pid) and the first process exits 0.
        // `-T/-U auto`: the host's loopback ports answer inside. `-t/-u none`: nothing from outside reaches the
        // environment, as on Lambda; pasta's default (auto) bound every port the function listened on as a port of
        // the host, on every interface, and rescanned for them every second (~25% of its start-up CPU).
        let pidFile = folder + "/pasta.pid", logFile = folder + "/pasta.log"
        let starter: ChildProcess
        do {
            starter = try CommandSpawn.spawn([pasta, "--config-net", "--netns", nsFile, "--netns-only", "--runas", "0",
                                              "-T", "auto", "-U", "auto", "-t", "none", "-u", "none", "-q", "-P", pidFile],
                                             outputFile: logFile)
        } catch { throw fail(error) }
        let status = starter.wait(timeout: 10)
        if status == nil { _ = starter.terminate() }
        let running = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard let status, status == .exited(0), (running ?? 0) > 0 else {
            let said = ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            throw fail(HarnessError.input("pasta could not give the environment its network ("
                + (status.map { "\($0)" } ?? "no answer within 10 s") + (said.isEmpty ? "" : ": \(said)") + "). "
                + "pasta needs /dev/net/tun (`modprobe tun`); `snapharness doctor` checks what it needs"))
        }
        return network
    }

    /// Stops pasta and lets the namespace go (it ends with its last process and descriptor). Idempotent.
    public func remove() {
        guard removed.withLock({ done -> Bool in defer { done = true }; return !done }) else { return }
        Self.release(folder)
        FD.close(fd)
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A killed snapharness's network (ScratchFolder's sweep): every process still in the namespace is killed first,
    /// an environment no cgroup holds yet (a copy CRIU was restoring when its supervisor died), so nothing of it
    /// outlives its network. Only here: a live environment's own teardown has no such processes to look for.
    static func releaseAbandoned(_ folder: String) {
        var ns = stat()
        if stat(folder + "/ns", &ns) == 0 { // the namespace while it is bound there (nsfs: the same device as ns/net)
            var killed = 0
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), pid != getpid() else { continue }
                var member = stat()
                if stat("/proc/\(entry)/ns/net", &member) == 0, member.st_ino == ns.st_ino, member.st_dev == ns.st_dev,
                   kill(pid, SIGKILL) == 0 {
                    killed += 1
                }
            }
            if killed > 0 {
                Leftovers.note("removed what a killed snapharness left in an environment's network: \(killed) processes")
            }
        }
        release(folder)
    }

    /// What a network's folder holds outside itself: pasta (not our child once it runs in the background; killed
    /// only if its command line names this folder, never a process that reused the pid) and the namespace's bind.
    /// For this process's networks (whose processes are gone by then) and, through `releaseAbandoned`, a killed
    /// snapharness's.
    static func release(_ folder: String) {
        if let text = try? String(contentsOfFile: folder + "/pasta.pid", encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
           ProcFile.commandLine(pid).contains(folder + "/ns") {
            kill(pid, SIGKILL)
        }
        _ = umount2(folder + "/ns", Int32(MNT_DETACH))
    }
}
#endif
