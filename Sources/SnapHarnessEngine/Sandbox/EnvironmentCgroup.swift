#if os(Linux)
import CSandbox
import Foundation
import Glibc

/// One execution environment's memory (and optionally CPU) limit, as Lambda enforces the memory size, and its own
/// count of processes and threads (1,024, Lambda's quota): a cgroup per environment (the Init and every restored
/// copy), created under the supervisor's own cgroup and removed with it. The process quota is the pids
/// controller's, not RLIMIT_NPROC: every environment runs as the same uid, and RLIMIT_NPROC counts a uid's
/// processes machine-wide, so one environment at its limit stopped every other from forking.
///
/// cgroup v2 where the memory controller is there (memory.max, memory.peak, memory.events, cpu.max); otherwise the
/// v1 memory and cpu hierarchies (memory.limit_in_bytes, memory.max_usage_in_bytes, memory.oom_control,
/// cpu.cfs_quota_us), as on machines with a v1 memory controller and a v2 tree without it. A restored copy also
/// joins a freezer (v2's cgroup.freeze, v1's freezer hierarchy), which serve uses to freeze it between invocations.
public final class EnvironmentCgroup: @unchecked Sendable {
    public enum Version: String, Sendable { case v1, v2 }

    public let version: Version
    /// The folder holding the memory files (the only one in v2).
    public let memoryPath: String
    /// v1 only: the cpu hierarchy's folder, when the CPU is limited.
    public private(set) var cpuPath: String?
    /// The pids controller's folder (v1's own hierarchy, or the v2 folder), when the machine has the controller.
    public private(set) var pidsPath: String?
    /// Where a restored tree is frozen between invocations with one write (v2: the folder's `cgroup.freeze`; v1: the
    /// freezer hierarchy's `freezer.state`), when the machine has a freezer. Restored trees only: Init never joins it.
    public private(set) var freezerPath: String?
    private var removed = false

    /// Lambda: one vCPU per 1,769 MB.
    public static let megabytesPerCPU = 1769.0

    init(version: Version, memoryPath: String, cpuPath: String?, limitBytes: UInt64) {
        self.limitBytes = limitBytes
        self.version = version
        self.memoryPath = memoryPath
        self.cpuPath = cpuPath
    }

    /// Whether this machine has a memory controller to enforce memory sizes with.
    public static var available: Bool { (try? parents()) != nil }

    /// Where environments' cgroups are made on this machine, or why none can be.
    static func parents() throws -> (version: Version, memory: String, cpu: String?, pids: String?, freezer: String?) {
        let own = ProcFile.read("/proc/self/cgroup") ?? ""
        var v1: [String: String] = [:]
        var v2: String?
        for line in own.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" { v2 = String(parts[2]) }
            for controller in parts[1].split(separator: ",") { v1[String(controller)] = String(parts[2]) }
        }
        let unified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup"
            : "/sys/fs/cgroup/unified"
        if let v2, let controllers = ProcFile.read(unified + v2 + "/cgroup.controllers") ?? ProcFile.read(unified + "/cgroup.controllers"),
           controllers.split(separator: " ").contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "memory" }) {
            let path = unified + (v2 == "/" ? "" : v2)
            let pids = (ProcFile.read(path + "/cgroup.controllers") ?? "").split(separator: " ")
                .contains { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "pids" }
            return (.v2, path, nil, pids ? path : nil, path) // every non-root v2 cgroup has cgroup.freeze
        }
        if let memory = v1["memory"], FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes") {
            let cpu = v1["cpu"].map { "/sys/fs/cgroup/cpu" + ($0 == "/" ? "" : $0) }
            let pids = v1["pids"].map { "/sys/fs/cgroup/pids" + ($0 == "/" ? "" : $0) }
                .flatMap { FileManager.default.fileExists(atPath: $0 + "/cgroup.procs") ? $0 : nil }
            let freezer = v1["freezer"].map { "/sys/fs/cgroup/freezer" + ($0 == "/" ? "" : $0) }
                .flatMap { FileManager.default.fileExists(atPath: $0 + "/cgroup.procs") ? $0 : nil }
            return (.v1, "/sys/fs/cgroup/memory" + (memory == "/" ? "" : memory), cpu, pids, freezer)
        }
        throw HarnessError.input("no cgroup memory controller here (neither cgroup v2's nor v1's): the memory size "
                                 + "cannot be enforced")
    }

    /// A new cgroup limited to `memoryMB` (and to Lambda's share of CPU for that memory with `lambdaCPU`).
    public static func create(label: String, memoryMB: Int, lambdaCPU: Bool,
                              maxProcesses: Int = Int(FunctionConfig.maxProcesses)) throws -> EnvironmentCgroup {
        let (version, memoryParent, cpuParent, pidsParent, freezerParent) = try parents()
        // The freezer first: a frozen v1 tree ignores SIGKILL until it is thawed.
        removeOrphans(in: [freezerParent, memoryParent, cpuParent, pidsParent].compactMap { $0 })
        let name = "snapharness-\(getpid())-\(label)-\(UInt32.random(in: 0...UInt32.max))"
        let memoryPath = memoryParent + "/" + name
        guard mkdir(memoryPath, 0o755) == 0 else { throw SystemError("mkdir \(memoryPath)") }
        let group = EnvironmentCgroup(version: version, memoryPath: memoryPath, cpuPath: nil, limitBytes: UInt64(memoryMB) << 20)
        do {
            let bytes = UInt64(memoryMB) << 20
            let quota = Int(100_000 * Double(memoryMB) / megabytesPerCPU)
            switch version {
            case .v2:
                try write(memoryPath + "/memory.max", "\(bytes)")
                try? write(memoryPath + "/memory.swap.max", "0")
                if lambdaCPU { try write(memoryPath + "/cpu.max", "\(max(1000, quota)) 100000") }
            case .v1:
                try write(memoryPath + "/memory.limit_in_bytes", "\(bytes)")
                try? write(memoryPath + "/memory.memsw.limit_in_bytes", "\(bytes)")
                if lambdaCPU, let cpuParent {
                    let path = cpuParent + "/" + name
                    guard mkdir(path, 0o755) == 0 else { throw SystemError("mkdir \(path)") }
                    group.cpuPath = path
                    try write(path + "/cpu.cfs_period_us", "100000")
                    try write(path + "/cpu.cfs_quota_us", "\(max(1000, quota))")
                }
            }
            // Lambda's 1,024 processes and threads, counted for this environment alone.
            if let pidsParent {
                let path = version == .v2 ? memoryPath : pidsParent + "/" + name
                if path != memoryPath { guard mkdir(path, 0o755) == 0 else { throw SystemError("mkdir \(path)") } }
                group.pidsPath = path
                try write(path + "/pids.max", "\(maxProcesses)")
            }
            if let freezerParent {
                let path = version == .v2 ? memoryPath : freezerParent + "/" + name
                if path != memoryPath { guard mkdir(path, 0o755) == 0 else { throw SystemError("mkdir \(path)") } }
                group.freezerPath = path
            }
        } catch {
            group.remove()
            throw error
        }
        return group
    }

    /// Whether restored environments can be frozen by a cgroup freezer here (else serve stops them with SIGSTOP).
    public static var freezes: Bool { ((try? parents())?.freezer) != nil }

    /// Whether environments get their own process count (the pids controller): without it RLIMIT_NPROC stands in.
    public static var countsProcesses: Bool { ((try? parents())?.pids) != nil }

    /// The cgroups of supervisors that died without cleaning up (SIGKILL; the name holds their pid): the environments
    /// in them (an Init, restored copies, serve's frozen ones) are killed and reaped by their new parent, which lets
    /// go of their mounts and /tmp disks (the loop devices clear themselves), and the cgroups are removed.
    static func removeOrphans(in parents: [String]) {
        var killed: [Int32: Int] = [:] // dead supervisor -> processes killed
        for parent in parents {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix("snapharness-") {
                guard let pid = Int32(name.split(separator: "-")[1]), pid != getpid(),
                      ProcFile.hasEnded(pid) else { continue }
                let path = parent + "/" + name
                thaw(path) // a supervisor killed while its environments were frozen
                let end = Clock.now + 3
                while true {
                    let procs = (ProcFile.read(path + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }
                    if procs.isEmpty || Clock.now > end { break }
                    for process in procs where kill(process, SIGKILL) == 0 { killed[pid, default: 0] += 1 }
                    usleep(20_000)
                }
                rmdir(path)
            }
        }
        for (pid, count) in killed.sorted(by: { $0.key < $1.key }) {
            Leftovers.note("removed what a killed snapharness (pid \(pid)) left running: \(count) function processes "
                           + "of its environments, with their cgroups and /tmp disks")
        }
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        defer { Glibc.close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else { throw SystemError("write \(path)") }
    }

    /// The files a process writes "0" into to join (opened by the supervisor, written by the sandbox's child
    /// before exec, so everything the function allocates is charged here).
    var procsFiles: [String] { separateFolders.filter { $0 != freezerOnlyFolder }.map { $0 + "/cgroup.procs" } }

    /// v1's freezer folder, which Init does not join (it is never frozen, and its checkpoint should not record it).
    private var freezerOnlyFolder: String? { freezerPath == memoryPath ? nil : freezerPath }

    /// Every folder of this environment's cgroup (one in v2; memory, cpu, pids and freezer hierarchies in v1).
    private var separateFolders: [String] {
        var folders = [memoryPath]
        for path in [cpuPath, pidsPath, freezerPath].compactMap({ $0 }) where !folders.contains(path) { folders.append(path) }
        return folders
    }

    /// Memory a restored tree already had when it was moved in: CRIU's process restored those pages outside this
    /// cgroup, and neither cgroup version moves charges any more, so they are counted here instead.
    public private(set) var baselineBytes: UInt64 = 0
    private let limitBytes: UInt64

    /// Moves a restored tree in (before it runs again) and counts the memory it restored: the limit left for new
    /// allocations shrinks by that much, and `peakBytes` adds it, so the memory size covers the whole environment.
    func adopt(tree root: pid_t) {
        let pids = [root] + ProcFile.descendants(of: root)
        for pid in pids {
            for folder in separateFolders { try? EnvironmentCgroup.write(folder + "/cgroup.procs", String(pid)) }
        }
        // Measured once the tree is in: everything it touched before is resident and charged elsewhere,
        // everything after is charged here.
        baselineBytes = pids.reduce(0) { total, pid in
            let fields = (ProcFile.read("/proc/\(pid)/statm") ?? "").split(separator: " ")
            return total + (fields.count > 1 ? (UInt64(fields[1]) ?? 0) * UInt64(sysconf(Int32(_SC_PAGESIZE))) : 0)
        }
        let usage = ProcFile.read(memoryPath + (version == .v2 ? "/memory.current" : "/memory.usage_in_bytes"))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        baselineBytes = baselineBytes > usage ? baselineBytes - usage : 0 // what is charged here already is not baseline
        let left = limitBytes > baselineBytes + (4 << 20) ? limitBytes - baselineBytes : 4 << 20
        try? EnvironmentCgroup.write(memoryPath + (version == .v2 ? "/memory.max" : "/memory.limit_in_bytes"), "\(left)")
    }

    /// The highest memory use so far, in bytes (restored memory included).
    public var peakBytes: UInt64? {
        return peakFile?.read().flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .map { $0 + baselineBytes }
    }

    /// The file `peakBytes` reads, kept open (it is read after every invocation).
    private lazy var peakFile = KernelFile(memoryPath + (version == .v2 ? "/memory.peak" : "/memory.max_usage_in_bytes"))

    /// Whether the kernel killed a process here for going over the limit.
    public var outOfMemory: Bool {
        let text = ProcFile.read(memoryPath + (version == .v2 ? "/memory.events" : "/memory.oom_control")) ?? ""
        return text.split(separator: "\n").contains { line in
            let parts = line.split(separator: " ")
            return parts.count == 2 && parts[0] == "oom_kill" && (Int(parts[1]) ?? 0) > 0
        }
    }

    /// Stops every process of the environment at once, children a frozen parent would fork included, invisibly to
    /// them (no SIGSTOP/SIGCONT a runtime or its parent could see). Returns without waiting for the freeze to
    /// settle, as a signal would. False when there is no freezer: the caller stops the processes itself.
    func freeze() -> Bool {
        guard let freezerPath else { return false }
        if version == .v1 { _ = EnvironmentCgroup.frozenKeeper }
        if freezerFile == nil {
            freezerFile = KernelFile(freezerPath + (version == .v2 ? "/cgroup.freeze" : "/freezer.state"), writable: true)
        }
        return freezerFile?.write(version == .v2 ? "1" : "FROZEN") == true
    }

    /// The freezer's file, kept open once the environment has been frozen.
    private var freezerFile: KernelFile?

    /// v1: an empty cgroup kept frozen while this process runs. The v1 freezer turns a kernel static key on when the
    /// first cgroup freezes and off when the last thaws, patching kernel text with an IPI to every CPU each time
    /// (perf: 25% of serve's CPU, ~0.3 ms per request). With one cgroup always frozen, a freeze or thaw is a plain
    /// write. Removed at exit, or as an orphan by the next snapharness.
    private static let frozenKeeper: String? = {
        guard let parent = (try? parents())?.freezer else { return nil }
        let path = parent + "/snapharness-\(getpid())-frozen-key"
        guard mkdir(path, 0o755) == 0 || errno == EEXIST, (try? write(path + "/freezer.state", "FROZEN")) != nil else {
            return nil
        }
        atexit { if let path = EnvironmentCgroup.frozenKeeper { rmdir(path) } } // set by then
        return path
    }()

    /// Lets a frozen environment run again (one never frozen has no freezer file yet, and nothing to thaw).
    func thaw() {
        _ = freezerFile?.write(version == .v2 ? "0" : "THAWED")
    }

    /// A folder's freezer off, whichever version it is (a frozen v1 task does not even die of SIGKILL).
    static func thaw(_ folder: String) {
        if (try? write(folder + "/freezer.state", "THAWED")) == nil { try? write(folder + "/cgroup.freeze", "0") }
    }

    /// Kills whatever is left and removes the cgroup(s); safe to call more than once.
    public func remove() {
        guard !removed else { return }
        removed = true
        thaw()
        for path in separateFolders {
            for _ in 0..<50 {
                if rmdir(path) == 0 || errno == ENOENT { break }
                if errno == EBUSY {
                    for pid in (ProcFile.read(path + "/cgroup.procs") ?? "").split(separator: "\n").compactMap({ Int32($0) })
                    where pid != getpid() {
                        kill(pid, SIGKILL)
                    }
                }
                usleep(10_000)
            }
        }
    }

    deinit { remove() }
}
#endif
