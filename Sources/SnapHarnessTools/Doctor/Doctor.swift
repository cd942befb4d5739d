#if os(Linux)
import Foundation
import SnapHarnessEngine
import Glibc

/// `snapharness doctor`: tells a user, before anything else fails in a confusing way, whether this machine can
/// checkpoint and restore, and what exactly to do when it cannot. CRIU's own errors name kernel internals; doctor
/// maps each prerequisite to one line with the fixing command, and ends with a real checkpoint and restore because
/// only that proves the whole chain (binary, libcriu, privileges, kernel, sandbox) works together.
public struct Doctor: Sendable {
    /// The oldest CRIU that dumps TCP sockets on kernels >= 6.16 (see the notes on CRIU versions).
    public static let minimumCriuVersion = [4, 2]

    public var environment: [String: String]
    /// How long the probe waits for the shell to print, and for the restored copy to print again.
    public var probeTimeout: Double

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, probeTimeout: Double = 10) {
        self.environment = environment
        self.probeTimeout = probeTimeout
    }

    /// Runs every check and the probe. Never throws: each failure becomes a line of the report.
    public func run() -> DoctorReport {
        var checks: [DoctorCheck] = []
        let criu: Criu?
        let locateError: String?
        do { (criu, locateError) = (try Criu.locate(environment: environment), nil) } catch {
            (criu, locateError) = (nil, String(describing: error))
        }
        checks += Self.versionChecks(criu: criu, locateError: locateError)
        checks.append(DoctorCheck(id: "kernel", title: "kernel", status: .ok, detail: Self.kernelRelease()))
        checks += Self.privilegeChecks()
        checks += Self.namespaceChecks()
        checks += Self.featureChecks(criu: criu)
        let probe = criu.map { Self.probe(criu: $0, timeout: probeTimeout) }
            ?? DoctorProbeResult(succeeded: false, error: locateError)
        checks.append(Self.kernelFeatureCacheCheck())
        checks.append(Self.runtimeCheck())
        checks.append(Self.runtimeFilesCheck(environment: environment))
        checks.append(probe.check)
        return DoctorReport(checks: checks, probe: probe)
    }

    // MARK: CRIU and libcriu

    static func versionChecks(criu: Criu?, locateError: String?) -> [DoctorCheck] {
        let fix = "`make deps` (builds CRIU 4.2.1 into .deps/), then `make build`"
        var checks: [DoctorCheck] = []
        var binaryVersion: String?
        if let criu {
            do {
                let version = try criu.serviceVersion()
                binaryVersion = version
                var problems: [String] = []
                if !isAtLeastMinimum(version) { problems.append("older than 4.2 (TCP sockets fail to dump on kernels >= 6.16)") }
                if version != Criu.libraryVersion { problems.append("differs from the libcriu this build uses (\(Criu.libraryVersion))") }
                checks.append(DoctorCheck(id: "criu", title: "criu", status: problems.isEmpty ? .ok : .warn,
                                          detail: "\(criu.binary), version \(version)"
                                              + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")),
                                          fix: fix))
            } catch {
                checks.append(DoctorCheck(id: "criu", title: "criu", status: .missing,
                                          detail: "\(criu.binary) does not answer libcriu: \(error)", fix: fix))
            }
        } else {
            checks.append(DoctorCheck(id: "criu", title: "criu", status: .missing,
                                      detail: locateError ?? "no criu binary found",
                                      fix: fix + ", or set SNAPHARNESS_CRIU=/path/to/criu (>= 4.2)"))
        }

        let linked = linkedLibcriuPath()
        var problems: [String] = []
        if !isAtLeastMinimum(Criu.libraryVersion) { problems.append("older than 4.2") }
        if let linked, let criu, let prefix = installPrefix(ofBinary: criu.binary), !linked.hasPrefix(prefix + "/") {
            problems.append("loaded from outside \(prefix), the criu binary's install (same soname, maybe another version)")
        }
        if let binaryVersion, binaryVersion != Criu.libraryVersion { problems.append("differs from criu \(binaryVersion)") }
        checks.append(DoctorCheck(id: "libcriu", title: "libcriu", status: problems.isEmpty ? .ok : .warn,
                                  detail: "version \(Criu.libraryVersion), linked from \(linked ?? "(not mapped)")"
                                      + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")),
                                  fix: fix))
        return checks
    }

    /// True for "4.2", "4.2.1", "5.0" and the like; false for "4.1.1" or anything unparsable.
    public static func isAtLeastMinimum(_ version: String) -> Bool {
        let parts = version.split(separator: ".").map { Int($0) ?? -1 }
        for (have, need) in zip(parts + [0, 0], minimumCriuVersion) where have != need { return have > need }
        return true
    }

    /// The libcriu.so this process actually mapped (its soname is the same for Debian's 3.17 and our 4.2).
    static func linkedLibcriuPath() -> String? {
        guard let maps = ProcFile.read("/proc/self/maps") else { return nil }
        return maps.split(separator: "\n").lazy.compactMap { line -> String? in
            guard let slash = line.firstIndex(of: "/") else { return nil }
            let path = String(line[slash...])
            return path.contains("/libcriu.so") ? path : nil
        }.first
    }

    /// /usr for /usr/sbin/criu, /work/main/.deps/criu for .deps/criu/sbin/criu (symlinks resolved).
    static func installPrefix(ofBinary binary: String) -> String? {
        guard let real = realpath(binary, nil) else { return nil }
        defer { free(real) }
        let url = URL(fileURLWithPath: String(cString: real))
        return url.deletingLastPathComponent().deletingLastPathComponent().path
    }

    // MARK: kernel and privileges

    static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown (uname failed)" }
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Capability numbers from <linux/capability.h>.
    public enum Capability: Int, CaseIterable, Sendable {
        case sysPtrace = 19, sysAdmin = 21, sysResource = 24, checkpointRestore = 40
        var name: String {
            switch self {
            case .sysPtrace: "CAP_SYS_PTRACE"
            case .sysAdmin: "CAP_SYS_ADMIN"
            case .sysResource: "CAP_SYS_RESOURCE"
            case .checkpointRestore: "CAP_CHECKPOINT_RESTORE"
            }
        }
    }

    /// The CapEff mask of a /proc/PID/status text.
    public static func effectiveCapabilities(statusText: String) -> UInt64? {
        guard let line = statusText.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }) else { return nil }
        return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
    }

    static func privilegeChecks() -> [DoctorCheck] {
        let sudo = "run as root: `sudo snapharness doctor` (in a container: `docker run --privileged`)"
        let euid = geteuid()
        var checks = [DoctorCheck(id: "root", title: "root", status: euid == 0 ? .ok : .missing,
                                  detail: "euid \(euid)", fix: sudo)]
        let procStatus = ProcFile.read("/proc/self/status") ?? ""
        guard let mask = effectiveCapabilities(statusText: procStatus) else {
            checks.append(DoctorCheck(id: "capabilities", title: "capabilities", status: .missing,
                                      detail: "cannot read CapEff from /proc/self/status", fix: sudo))
            return checks
        }
        let has = { (cap: Capability) in mask & (1 << UInt64(cap.rawValue)) != 0 }
        let present = Capability.allCases.filter(has).map(\.name)
        var detail = "CapEff \(String(mask, radix: 16)): " + (present.isEmpty ? "none of the relevant ones" : present.joined(separator: ", "))
        var status = DoctorStatus.ok
        if !has(.sysAdmin) {
            status = .missing
            detail += "; CRIU and the sandbox need CAP_SYS_ADMIN (namespaces, mounts"
                + (has(.checkpointRestore) ? "; CAP_CHECKPOINT_RESTORE alone only covers CRIU's --unprivileged mode)" : ")")
        } else if !has(.sysPtrace) {
            status = .warn
            detail += "; no CAP_SYS_PTRACE: CRIU seizes tasks with ptrace, which Yama (ptrace_scope >= 1) then refuses"
        }
        if !has(.sysResource) { detail += "; CAP_SYS_RESOURCE absent: CRIU's RLIMIT_NOFILE warning is harmless" }
        checks.append(DoctorCheck(id: "capabilities", title: "capabilities", status: status, detail: detail,
                                  fix: sudo + " (or grant CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_CHECKPOINT_RESTORE)"))
        return checks
    }

    static func namespaceChecks() -> [DoctorCheck] {
        let items: [(ns: String, title: String, config: String, why: String)] = [
            ("pid", "pid namespace", "CONFIG_PID_NS=y", "every restored copy gets a pid namespace of its own"),
            ("mnt", "mount namespace", "CONFIG_NAMESPACES=y", "the sandbox has a private /proc and /tmp"),
            ("time", "time namespace", "CONFIG_TIME_NS=y (kernel >= 5.6)",
             "CRIU restores into a new time namespace so CLOCK_MONOTONIC continues across the gap"),
        ]
        return items.map { item in
            let path = "/proc/self/ns/\(item.ns)"
            let present = access(path, F_OK) == 0
            return DoctorCheck(id: item.ns == "mnt" ? "mount-namespace" : "\(item.ns)-namespace", title: item.title,
                               status: present ? .ok : .missing,
                               detail: (present ? "\(path) exists: " : "\(path) is absent, but ") + item.why,
                               fix: "boot a kernel built with \(item.config)")
        }
    }

    // MARK: kernel features, through `criu check --feature` (libcriu's criu_local_check crashed in 4.1.1)

    /// Each environment's /tmp is an ext4 image on a loop device, shown to restored copies through overlayfs.
    static func tmpDiskCheck() -> DoctorCheck {
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        let known = Set(filesystems.split(separator: "\n").compactMap { $0.split(separator: "\t").last.map(String.init) })
        var absent = ["ext4", "overlay", "tmpfs"].filter { !known.contains($0) }.map { "the \($0) file system" }
        if access("/dev/loop-control", R_OK | W_OK) != 0 { absent.append("/dev/loop-control (the loop driver)") }
        if EphemeralStorage.mke2fs == nil { absent.append("mke2fs") }
        return DoctorCheck(id: "tmp-disk", title: "/tmp disks", status: absent.isEmpty ? .ok : .missing,
                           detail: absent.isEmpty ? "ext4 images on loop devices, overlayfs for restored copies"
                               : "missing: \(absent.joined(separator: ", ")); no function can start",
                           fix: "`modprobe loop overlay` and `apt-get install e2fsprogs`")
    }

    static func featureChecks(criu: Criu?) -> [DoctorCheck] {
        let nft = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map { $0 + "/nft" }.first { access($0, X_OK) == 0 }
        var checks = [DoctorCheck(id: "nft", title: "nft binary", status: nft == nil ? .warn : .ok,
            detail: nft.map { "\($0): lists or removes a table a killed CRIU left (`nft list tables`)" }
                ?? "not installed: only needed to list or remove a lock table an older CRIU run left behind",
            fix: "apt-get install nftables")]
        let pasta = EnvironmentNetwork.pasta
        let tun = access("/dev/net/tun", R_OK | W_OK) == 0
        checks.append(DoctorCheck(id: "pasta", title: "pasta", status: pasta != nil && tun ? .ok : .missing,
            detail: pasta.map { tun ? "\($0): gives each environment's network namespace outbound access and the "
                                      + "host's 127.0.0.1 services" : "\($0) is there, but /dev/net/tun is not (pasta's tap device)" }
                ?? "not installed: no environment can get its own network",
            fix: pasta == nil ? "`make deps` (installs Debian's passt package)" : "`modprobe tun` (a kernel with CONFIG_TUN)"))
        checks.append(tmpDiskCheck())
        let features: [(feature: String, id: String, title: String, works: String, absent: String, status: DoctorStatus, fix: String)] = [
            ("network_lock_nftables", "network-lock", "network lock",
             "nftables network lock available (informational: snapharness needs no lock: each environment has a "
                + "network namespace of its own and TCP connections are closed on restore)",
             "CRIU cannot lock the network with nftables (informational: snapharness does not lock the network)", .warn,
             "`make deps` (builds CRIU against libnftables-dev) on a kernel with CONFIG_NF_TABLES=y"),
            ("uffd-noncoop", "userfaultfd", "userfaultfd",
             "uffd-noncoop supported: lazy restore (`criu lazy-pages`) can fault pages in on demand",
             "lazy-pages restore is unavailable; eager restore still works", .warn,
             "boot a kernel with CONFIG_USERFAULTFD=y (>= 4.11); non-root also needs `sysctl vm.unprivileged_userfaultfd=1`"),
            ("mem_dirty_track", "soft-dirty", "soft-dirty",
             "soft-dirty tracking on: incremental pre-dump is available",
             "informational, not a failure: soft-dirty tracking is off, so incremental pre-dump is unavailable "
                + "(snapharness takes full dumps)", .warn,
             "only needed for incremental pre-dump: a kernel built with CONFIG_MEM_SOFT_DIRTY=y"),
        ]
        for f in features {
            guard let criu else {
                checks.append(DoctorCheck(id: f.id, title: f.title, status: .missing,
                                          detail: "cannot check \(f.feature) without a criu binary", fix: "`make deps`"))
                continue
            }
            let (supported, output) = criuFeature(f.feature, criu: criu.binary)
            checks.append(DoctorCheck(id: f.id, title: f.title, status: supported ? .ok : f.status,
                                      detail: supported ? f.works : f.absent + " (CRIU: \(output))",
                                      fix: f.fix))
        }
        return checks
    }

    /// Runs `criu check --feature NAME`: exit 0 means supported; the output is CRIU's one-line explanation.
    public static func criuFeature(_ name: String, criu binary: String) -> (supported: Bool, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["check", "--feature", name]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return (false, "cannot run \(binary): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        let status = process.terminationStatus
        let output = lines.isEmpty ? "`\(binary) check --feature \(name)` exited \(status) without output" : lines.joined(separator: "; ")
        return (status == 0, output)
    }

    /// Lambda's Python runtimes with SnapStart that have an interpreter here (`--runtime`).
    static func runtimeCheck() -> DoctorCheck {
        let installed = PythonInterpreter.installed()
        let found = PythonInterpreter.runtimes.compactMap { runtime in
            installed[String(runtime.dropFirst("python".count))].map { "\(runtime) (\($0))" }
        }
        return DoctorCheck(id: "runtimes", title: "Python runtimes", status: found.isEmpty ? .warn : .ok,
                           detail: found.isEmpty ? "no Python 3.12+ found (pyenv versions, /usr/local/bin, /usr/bin)"
                                                 : found.joined(separator: ", "),
                           fix: "install Python 3.12 or newer (e.g. `pyenv install 3.12`); SnapStart supports no older Python")
    }

    /// Where the runtime agent and libraries come from: the checkout or the install prefix next to the executable.
    static func runtimeFilesCheck(environment: [String: String]) -> DoctorCheck {
        do {
            let files = try RuntimeFiles.locate(environment: environment)
            let kind = files.installation == .prefix(files.installation.root) ? "install prefix" : "checkout"
            let versions = files.libraryVersions
            let libraries = ["snapshot_restore_py", "boto3"].map { "\($0) \(versions[$0] ?? "?")" }
            return DoctorCheck(id: "runtime-files", title: "runtime files", status: .ok,
                               detail: "\(files.installation.root) (\(kind)): " + libraries.joined(separator: ", "))
        } catch {
            return DoctorCheck(id: "runtime-files", title: "runtime files", status: .missing, detail: "\(error)",
                               fix: "`make deps` in the checkout, or `make install PREFIX=DIR` and run DIR/bin/snapharness")
        }
    }

    /// CRIU writes criu.kdat only on tmpfs; `make deps` builds it with RUNDIR under /dev/shm for that reason.
    static func kernelFeatureCacheCheck() -> DoctorCheck {
        let dir = Criu.kernelFeatureCacheDir
        let path = dir + "/criu.kdat"
        if access(path, F_OK) == 0 {
            return DoctorCheck(id: "kdat-cache", title: "kdat cache", status: .ok,
                               detail: "\(path) present: CRIU skips re-probing the kernel, ~20 ms saved per call")
        }
        let parent = (dir as NSString).deletingLastPathComponent
        let mounts = ProcFile.read("/proc/self/mounts") ?? ""
        let onTmpfs = mounts.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 2 && fields[1] == parent && fields[2] == "tmpfs"
        }
        return DoctorCheck(id: "kdat-cache", title: "kdat cache", status: .warn,
                           detail: "informational: \(path) absent after CRIU ran, so every criu call re-probes the "
                               + "kernel (~20 ms)" + (onTmpfs ? "" : "; \(parent) is not a tmpfs mount"),
                           fix: "use the CRIU `make deps` builds (RUNDIR=\(dir)), keep /dev/shm a writable tmpfs, and "
                               + "`rm -f \(dir)/criu.kdat.tmp` if a killed criu left it empty")
    }
}
#endif
