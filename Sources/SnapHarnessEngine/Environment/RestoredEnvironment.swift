#if os(Linux)
import Foundation
import SnapHarnessProtocol
import Glibc

/// A snapshot opened for restoring: its manifest and function checked once, and the host folders of Lambda's
/// mounts worked out once, so every environment restored from it starts at CRIU.
public struct RestoreSource: Sendable {
    public let snapshot: SnapshotDirectory
    public let manifest: SnapshotManifest
    public let function: FunctionManifest
    /// The environment's root and the host folders of its binds (CRIU's external mounts).
    public let layout: RestoreLayout
    /// Restore lazily: each copy runs once its registers are back, its pages arrive on demand (`LazyPages`).
    public var lazyPages = false
    /// Snapshots from this much memory up are restored lazily unless asked otherwise: a 500 MB heap answers its
    /// first request in ~25 ms lazily and ~300 ms eagerly, a 2 GB one in ~25-30 ms and ~1.2 s, about its cold start
    /// (`make bench`); Lambda loads snapshots on demand too. Small ones are eager: a lazy copy keeps its daemon until
    /// every page is in and its next requests may wait for pages, for a first response at most a few ms sooner.
    public static let lazyThresholdBytes: UInt64 = 256 << 20

    /// Whether this snapshot restores lazily by default: its memory images reach `lazyThresholdBytes`, and this
    /// kernel lets CRIU use userfaultfd.
    public var prefersLazyPages: Bool {
        manifest.imageBytes >= RestoreSource.lazyThresholdBytes && LazyPages.userfaultfdAvailable()
    }

    /// What a restore says when it chose to be lazy by itself.
    public static func lazyByDefaultNote(manifest: SnapshotManifest) -> String {
        "snapharness: restoring lazily: the snapshot holds \(manifest.imageBytes >> 20) MiB of memory (from "
            + "\(lazyThresholdBytes >> 20) MiB up, pages arrive as they are touched, as Lambda loads snapshots; "
            + "--no-lazy restores every page first)"
    }
    /// The snapshot as it was checked: its folder's and images folder's inodes (a snapshot taken again at the path is
    /// a new folder) and its manifest's identity. New images under this manifest would hang the restore: every
    /// restore compares first. (The folder's own times change when any snapharness records a verification there.)
    let fingerprint: String?

    public init(snapshot: SnapshotDirectory, manifest: SnapshotManifest, function: FunctionManifest, layout: RestoreLayout) {
        (self.snapshot, self.manifest, self.function, self.layout) = (snapshot, manifest, function, layout)
        fingerprint = RestoreSource.fingerprint(of: snapshot)
    }

    static func fingerprint(of snapshot: SnapshotDirectory) -> String? {
        func inode(_ path: String) -> String? {
            var st = stat()
            return stat(path, &st) == 0 ? "\(st.st_dev):\(st.st_ino)" : nil
        }
        let parts = [inode(snapshot.path), SnapshotDirectory.identity(snapshot.manifestPath), inode(snapshot.imagesPath)]
        return parts.contains { $0 == nil } ? nil : parts.compactMap { $0 }.joined(separator: " ")
    }

    /// Refuses a restore once the snapshot on disk is no longer the one checked when it was opened.
    func checkUnchanged() throws {
        guard RestoreSource.fingerprint(of: snapshot) == fingerprint else {
            throw LifecycleError(.restore, "\(snapshot.path) changed on disk since it was opened (taken again, moved or "
                                 + "removed): no copy is restored from a mix of two snapshots. Restart to serve the new one")
        }
    }

    /// Fails with `.input` for a snapshot this CRIU cannot restore or one that holds no Lambda function.
    public static func open(_ snapshot: SnapshotDirectory, criu: Criu) throws -> RestoreSource {
        do {
            let manifest = try snapshot.loadManifest()
            if let current = try? criu.cachedServiceVersion(), current != manifest.criuVersion {
                throw SnapshotError.criuMismatch(snapshot.path, snapshot: manifest.criuVersion, current: current)
            }
            guard let function = manifest.function else {
                throw HarnessError.input("\(snapshot.path) holds a bare process, not a Lambda function; "
                                         + "create one with `snapharness snapshot DIR -o SNAP`")
            }
            return RestoreSource(snapshot: snapshot, manifest: manifest, function: function,
                                 layout: try function.restoreLayout(snapshot, manifest: manifest))
        } catch { throw LifecycleError(.input, cause: error) }
    }
}

/// One restored execution environment, as a handle that owns everything of it: its process tree, control
/// connection, listener and cgroup. restore -> signal -> after-restore hooks -> invocations -> shutdown. Many run at
/// once from one snapshot. Calls on one environment take turns (a Lambda environment serves one invocation at a
/// time), so the handle can be passed between threads.
public final class RestoredEnvironment: @unchecked Sendable {
    public let index: Int
    let criu: Criu
    let source: RestoreSource
    var snapshot: SnapshotDirectory { source.snapshot }
    var manifest: SnapshotManifest { source.manifest }
    var function: FunctionManifest { source.function }
    let log: LambdaLog
    let credentials: ContainerCredentialsServer?
    /// Every public call holds it; recursive because failure paths tear down from inside a call.
    let turn = NSRecursiveLock()
    /// This environment's container-credentials token: each restored environment gets fresh credentials, as on Lambda.
    var token: String?
    var state: CopyReport
    var process: SandboxedProcess?
    var connection: ControlConnection?
    private var listener: ControlListener?
    /// This environment's memory cgroup (nil when memory is not enforced).
    var cgroup: EnvironmentCgroup?
    /// Signalled once the restored tree is in its cgroup.
    var adoption: DispatchSemaphore?
    /// This environment's network namespace, made before the restore (see `prepare`).
    private var network: EnvironmentNetwork?
    /// This environment's view of the snapshot's /tmp disk, made before the restore (see `prepare`).
    private var tmpView: EphemeralStorage.CopyView?

    /// Waits (once) until the restored tree is in its cgroup (before the cgroup is read for an OOM or removed).
    func awaitCgroup() {
        guard let adoption else { return }
        _ = adoption.wait(timeout: .now() + 5)
        self.adoption = nil
    }

    public init(index: Int, criu: Criu, source: RestoreSource, log: LambdaLog, credentials: ContainerCredentialsServer? = nil) {
        self.index = index
        self.credentials = credentials
        self.criu = criu
        self.source = source
        self.log = log
        self.state = CopyReport(copy: index, status: "pending")
    }

    /// What happened to this environment so far.
    public var report: CopyReport {
        turn.withLock {
            var current = state
            current.allPagesMs = process?.lazyPages?.allPagesMs
            return current
        }
    }
    public var credentialsToken: String? { turn.withLock { token } }

    var runtimeVersion: String { (function.runtimeClient ?? .builtin).runtimeVersion(python: function.python) }

    /// Makes what the environment needs before the snapshot can be restored into it: its network namespace (pasta
    /// takes ~60-90 ms to configure one), its view of the /tmp disk, its memory cgroup and its control listener.
    /// On Lambda the microVM, its memory, disk and network exist before the restore too, so this is not part of the
    /// Restore Duration; `restore` does it first if it was not done.
    public func prepare() throws { try turn.withLock { try prepareInTurn() } }

    /// Prepares the environment with a network made beforehand (a pool's); it is this environment's from now on.
    public func prepare(network made: EnvironmentNetwork) {
        turn.withLock {
            if network == nil, manifest.networkKey != nil { network = made; state.networkMs = 0 } else { made.remove() }
        }
    }

    private func prepareInTurn() throws {
        if cgroup == nil, function.enforceMemory ?? false {
            cgroup = try EnvironmentCgroup.create(label: "copy\(index)", memoryMB: function.memorySizeMB,
                                                  lambdaCPU: function.lambdaCPU ?? false)
        }
        if tmpView == nil, manifest.tmpDisk != nil {
            let start = Clock.now
            do { tmpView = try EphemeralStorage.CopyView.make(for: snapshot, manifest: manifest) } catch {
                throw LifecycleError(.restore, cause: error)
            }
            state.tmpDiskMs = (Clock.now - start) * 1000
        }
        if network == nil, manifest.networkKey != nil {
            let start = Clock.now
            do { network = try EnvironmentNetwork.create() } catch { throw LifecycleError(.restore, cause: error) }
            state.networkMs = (Clock.now - start) * 1000
        }
        if listener == nil {
            listener = try network.map { try ControlListener(network: $0) } ?? ControlListener(owner: function.user)
        }
    }

    /// Restores the environment and runs its after-restore hooks within the restore limit.
    public func restore() throws { try turn.withLock { try restoreInTurn() } }

    private func restoreInTurn() throws {
        try source.checkUnchanged()
        try prepareInTurn()
        guard let listener else { throw LifecycleError(.restore, "copy \(index) has no control listener") }
        log.restoreStart(runtime: runtimeVersion, copy: index)
        let start = Clock.now
        let deadline = start + function.restoreTimeoutSeconds
        let restored = try restoreProcess(listener: listener, start: start)
        process = restored
        state.pid = restored.pid
        adoptIntoCgroup(restored.pid)
        let loaded = Clock.now // CRIU is done: what follows (runtime load, hooks) is what Lambda bills
        restored.process.signal(SIGUSR1) // the parked runtime wakes up and dials the address on its new stdin
        let conn = try reconnect(restored, listener: listener, deadline: deadline, start: start)
        try runAfterRestoreHooks(restored, conn, deadline: deadline, start: start)
        let seconds = Clock.now - start
        state.restoreMs = seconds * 1000
        state.billedRestoreMs = (Clock.now - loaded) * 1000
        state.status = "restored"
        log.restoreReport(seconds: seconds, copy: index)
    }

    /// CRIU's part: the copy's process tree back from the snapshot, parked (RESTORE_REPORT with
    /// SnapStartException when CRIU fails).
    private func restoreProcess(listener: ControlListener, start: Double) throws -> SandboxedProcess {
        let (log, index) = (self.log, self.index)
        do {
            return try criu.restore(snapshot, manifest: manifest, stdin: listener.addressLine,
                                    timeout: function.restoreTimeoutSeconds, layout: source.layout,
                                    network: network, tmpView: takeTmpView(), lazyPages: source.lazyPages, onAllPages: { ms in
                log.line("snapharness: all pages in \(LambdaLog.ms(ms / 1000)) after the restore began (lazy restore)", copy: index)
            }) { _, line in
                log.line(line, copy: index)
            }
        } catch {
            state.status = "error"
            state.message = "\(error)"
            log.restoreReport(seconds: Clock.now - start, copy: index, status: "error", errorType: .snapStartException)
            var failure = LifecycleError(.restore, cause: error)
            failure.errorType = .snapStartException
            throw failure
        }
    }

    /// Into its cgroup, off the critical path: a move into a cgroup waits for an RCU grace period (~7 ms here), so it
    /// runs beside the after-restore phase and the first invocation. Until it is done, the copy's memory is the
    /// runtime's own measure (`maxMemoryUsedMB`).
    private func adoptIntoCgroup(_ pid: pid_t) {
        guard let cgroup else { return }
        let done = DispatchSemaphore(value: 0)
        adoption = done
        let mover = Thread { cgroup.adopt(tree: pid); done.signal() }
        mover.name = "snapharness-cgroup-move"
        mover.start()
    }

    /// A failed restore after CRIU: the copy goes, RESTORE_REPORT says why with Lambda's status and error type.
    private func restoreFailed(_ phase: LifecyclePhase, _ status: String, _ errorType: LambdaErrorType, _ message: String,
                               _ error: LambdaError? = nil, start: Double) -> LifecycleError {
        teardown()
        let seconds = Clock.now - start
        log.restoreReport(seconds: seconds, copy: index, status: status, errorType: errorType)
        state.restoreMs = seconds * 1000
        state.status = status
        state.error = error
        state.message = message
        var failure = LifecycleError(phase, message, lambdaError: error)
        failure.errorType = errorType
        return failure
    }

    private var restoreTimeout: String {
        let limit = "the restore limit of \(LambdaLog.ms(function.restoreTimeoutSeconds).replacingOccurrences(of: ".00 ms", with: " ms"))"
        return "SnapStartTimeoutException: runtime load and after-restore hooks did not finish within \(limit); the copy was stopped"
    }

    /// The woken runtime dials this supervisor and says hello.
    private func reconnect(_ restored: SandboxedProcess, listener: ControlListener, deadline: Double,
                           start: Double) throws -> ControlConnection {
        guard let conn = try listener.accept(from: restored.process, deadline: deadline) else {
            if restored.process.poll() != nil {
                throw restoreFailed(.afterRestore, "error", .runtimeExitError, "the restored runtime exited before reconnecting",
                                    start: start)
            }
            throw restoreFailed(.afterRestore, "timeout", .snapStartTimeoutException, restoreTimeout, start: start)
        }
        connection = conn // the environment's from here on: a failure's teardown closes it
        switch try conn.receive(deadline: deadline) {
        case .message(.hello): return conn
        case .closed:
            throw restoreFailed(.afterRestore, "error", .runtimeExitError,
                                "the restored runtime exited before greeting the supervisor", start: start)
        case .timedOut: throw restoreFailed(.afterRestore, "timeout", .snapStartTimeoutException, restoreTimeout, start: start)
        case .malformed(let why):
            throw restoreFailed(.afterRestore, "error", .runtimeUnknown, "the restored runtime sent \(why)", start: start)
        case .message(let m):
            throw restoreFailed(.afterRestore, "error", .runtimeUnknown, "the restored runtime sent \(m.type) instead of hello",
                                start: start)
        }
    }

    /// The copy's rotated credentials, then its after-restore hooks, within the restore limit.
    private func runAfterRestoreHooks(_ restored: SandboxedProcess, _ conn: ControlConnection, deadline: Double,
                                      start: Double) throws {
        var environment: [String: String]?
        if let credentials {
            let token = credentials.issueToken(label: "copy-\(index)")
            self.token = token
            environment = credentials.environment(token: token)
        }
        do { try conn.send(.afterRestore(environment: environment)) } catch {
            let exit = restored.waitForExit(timeout: 5)
            throw restoreFailed(.afterRestore, "error", .runtimeExitError, "the after-restore signal could not be sent "
                                + "(\(error)); the runtime \(exit.map { "\($0)" } ?? "stopped") before the after-restore hooks",
                                start: start)
        }
        switch try conn.receive(deadline: deadline) {
        case .message(.restored): return
        case .message(.afterRestoreError(let m)):
            let cause = m.error
            let exit = restored.waitForExit(timeout: 5)
            let e = cause.wrapped(as: .runtimeAfterRestoreError)
            throw restoreFailed(.afterRestore, "error", .runtimeAfterRestoreError,
                                "an after-restore hook raised \(cause.errorType): \(cause.errorMessage) (runtime "
                                + "\(exit.map { "\($0)" } ?? "did not exit")); the invocation was not served (SnapStartException)",
                                e, start: start)
        case .message(let m):
            throw restoreFailed(.afterRestore, "error", .runtimeUnknown, "unexpected control message \(m.type)", start: start)
        case .malformed(let why):
            throw restoreFailed(.afterRestore, "error", .runtimeUnknown, "during the after-restore hooks, the runtime sent \(why)",
                                start: start)
        case .closed:
            let exit = restored.waitForExit(timeout: 5)
            throw restoreFailed(.afterRestore, "error", .runtimeExitError,
                                "the runtime \(exit.map { "\($0)" } ?? "stopped") during the after-restore hooks", start: start)
        case .timedOut:
            throw restoreFailed(.afterRestore, "timeout", .snapStartTimeoutException, restoreTimeout, start: start)
        }
    }

    /// The inspector's facts about this environment (for `check`).
    public func inspect() throws -> FunctionFacts { try turn.withLock { try inspectInTurn() } }

    private func inspectInTurn() throws -> FunctionFacts {
        guard let conn = connection else { throw HarnessError.input("copy \(index) is not running") }
        guard let facts = try conn.inspect(deadline: Clock.now + 30) else {
            throw LifecycleError(.invoke, "copy \(index) did not answer the inspection")
        }
        return facts
    }

    public var isRunning: Bool { turn.withLock { connection != nil && process?.process.poll() == nil } }

    /// Freezes the environment between invocations, as Lambda does: every process of it is stopped (by its cgroup's
    /// freezer where there is one), so background threads and timers make no progress until the next invocation
    /// (`thaw`). Idempotent.
    public func freeze() { turn.withLock { freezeInTurn() } }

    /// Lets a frozen environment run again (on the request path: one write, or SIGCONT to the list kept). Idempotent.
    public func thaw() { turn.withLock { thawInTurn() } }

    /// How the environment is frozen now: by its cgroup's freezer (one write, nothing the processes can see, as
    /// Lambda's freeze), or, on a machine without one, by SIGSTOP to each process, root first (a stopped tree cannot
    /// fork, so the list stays complete).
    private enum Frozen { case thawed, byCgroup, bySignal([pid_t]) }
    private var frozen = Frozen.thawed
    /// The root's /proc/PID/stat, kept open for the thaw's look at its pending signals.
    private var rootStat: KernelFile?

    private func freezeInTurn() {
        guard case .thawed = frozen, let root = process?.pid, process?.process.poll() == nil else { return }
        awaitCgroup() // the tree must be in the freezer before the freezer can stop it
        if let cgroup, cgroup.freeze() {
            if rootStat == nil { rootStat = KernelFile("/proc/\(root)/stat") }
            frozen = .byCgroup
            return
        }
        let pids = [root] + ProcFile.descendants(of: root)
        for pid in pids.reversed() { kill(pid, SIGSTOP) } // children first
        frozen = .bySignal(pids)
    }

    private func thawInTurn() {
        switch frozen {
        case .thawed: return
        case .byCgroup:
            // Killed while frozen (from outside): the kill lands once thawed. Wait for it, so `isRunning` says so and
            // the request goes to another environment (SIGSTOP needed no wait: a stopped process dies of SIGKILL).
            let killed = rootStat.map(ProcFile.killPending) ?? false // read while still frozen: settled
            cgroup?.thaw()
            if killed { _ = process?.waitForExit(timeout: 2) }
        case .bySignal(let pids): for pid in pids { kill(pid, SIGCONT) }
        }
        frozen = .thawed
    }

    /// Asks the runtime to exit, then makes sure: nothing of an environment outlives the run.
    public func shutdown() { turn.withLock { shutdownInTurn() } }

    private func shutdownInTurn() {
        thawInTurn() // a frozen runtime cannot answer
        // A lazy copy that served is let finish loading, so "all pages in" is reported (the daemon is killed with
        // the copy otherwise).
        if connection != nil { process?.lazyPages?.waitUntilComplete(timeout: 30) }
        if let conn = connection, process?.process.poll() == nil {
            try? conn.send(.shutdown)
            if process?.waitForExit(timeout: FunctionManifest.shutdownSeconds(extensions: function.extensions != nil)) == nil {
                process?.terminate()
            }
        }
        teardown()
        if state.status == "restored" { state.status = "done" }
    }

    /// The prepared /tmp view goes to the restore, which takes it off the host once CRIU has bound it.
    private func takeTmpView() -> EphemeralStorage.CopyView? {
        defer { tmpView = nil }
        return tmpView
    }

    func teardown() {
        thawInTurn() // a tree frozen by a v1 freezer would not even die of SIGKILL
        tmpView?.detach()
        tmpView = nil
        process?.terminate()
        awaitCgroup()
        cgroup?.remove()
        connection = nil
        listener?.close()
        listener = nil
        network?.remove()
        network = nil
    }
}
#endif
