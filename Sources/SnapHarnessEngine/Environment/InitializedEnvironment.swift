#if os(Linux)
import Foundation
import Glibc
import SnapHarnessProtocol

/// A function's environment after Init, before any snapshot: the handle `snapshot` drives step by step (Init,
/// before-snapshot hooks, checkpoint), and `bench` and `check` with it, as `RestoredEnvironment` is a restored
/// copy's. It owns the process and everything Init made for it; `shutdown` (or a checkpoint) ends it.
public final class InitializedEnvironment {
    let phase: InitPhase
    let session: InitPhase.Session
    /// The process went into a snapshot (CRIU killed it) or was shut down: nothing is left to stop.
    private var ended = false
    /// The runtime closed its channel and parked for the checkpoint: it can no longer be asked to exit.
    private var parked = false

    init(phase: InitPhase, session: InitPhase.Session) {
        self.phase = phase
        self.session = session
    }

    /// Spawns the function and runs Init within its limit (INIT_START; INIT_REPORT only if Init fails here).
    /// `network`: one made beforehand (bench makes it before its clock), which the environment owns from now on.
    /// `snapshotFolder`: where a checkpoint will write the snapshot (the /tmp disk is made beside it).
    public static func start(_ config: FunctionConfig, lifecycle: Lifecycle, network: EnvironmentNetwork? = nil,
                             snapshotFolder: String? = nil, report: inout LifecycleReport) throws -> InitializedEnvironment {
        var phase = try lifecycle.initPhase(config)
        phase.network = network
        return InitializedEnvironment(phase: phase, session: try phase.begin(snapshotFolder: snapshotFolder, report: &report))
    }

    /// The runtime process's pid on this machine.
    public var pid: pid_t { session.process.pid }
    /// When Init began (`Clock`), for durations measured from it.
    public var startedAt: Double { session.start }
    public var beforeSnapshotHooks: [String] { session.initDone.beforeSnapshotHooks }
    public var afterRestoreHooks: [String] { session.initDone.afterRestoreHooks }

    /// Lambda's refusal to snapshot a container image whose runtime cannot be restored (see `InitPhase.snapStartRefusal`).
    public func checkSnapStartAllowed() throws {
        guard let image = phase.config.image,
              let refusal = InitPhase.snapStartRefusal(image, parkedIn: session.initDone.parkedIn) else { return }
        terminate()
        throw LifecycleError(.input, refusal.message, hint: refusal.hint)
    }

    /// The inspector's facts at the end of Init (`check`: what the snapshot will hold).
    public func inspect(report: inout LifecycleReport) throws -> FunctionFacts {
        guard let facts = try? session.connection.inspect(deadline: session.deadline) else {
            throw failure(.`init`).fail("the runtime did not answer check's inspection at the end of Init (its log above "
                                        + "says why); no snapshot was taken", type: .runtimeUnknown, report: &report)
        }
        return facts
    }

    /// What the parked tree holds right before a checkpoint: established TCP connections and files in its /tmp.
    public func checkpointFacts() -> CheckpointFacts {
        CheckpointFacts(tcpConnections: ProcessInventory.establishedTCP(pid: pid), tmpFiles: ProcessInventory.tmpFiles(pid: pid))
    }

    /// One invocation before any snapshot: Lambda's on-demand (cold) path. Anything but a result is an error that
    /// says what came instead.
    @discardableResult
    public func invokeCold(requestId: String, event: String) throws -> AgentMessage.Result {
        let config = phase.config
        try session.connection.send(.invoke(.init(
            requestId: requestId, event: event,
            deadlineMs: Int64((Date().timeIntervalSince1970 + config.timeout) * 1000),
            invokedFunctionArn: "arn:aws:lambda:\(config.region):000000000000:function:\(config.functionName)")))
        let reply = try session.connection.receive(deadline: Clock.now + config.timeout)
        guard case .message(.result(let result)) = reply else {
            throw HarnessError.input("the invocation failed: \(InitializedEnvironment.describe(reply))")
        }
        return result
    }

    static func describe(_ received: ControlConnection.Received) -> String {
        switch received {
        case .message(let m):
            switch m {
            case .initError(let f), .beforeSnapshotError(let f), .afterRestoreError(let f):
                return "\(m.type): \(f.error.errorType): \(f.error.errorMessage)"
            case .error(let e): return "error: \(e.error.errorType): \(e.error.errorMessage)"
            default: return "unexpected message \(m.type)"
            }
        case .closed: return "the runtime exited"
        case .timedOut: return "timed out"
        case .malformed(let why): return "the runtime sent \(why)"
        }
    }

    /// Runs the before-snapshot hooks and waits for the runtime to close its channel and park: the end of Init.
    /// Logs INIT_REPORT and returns Init's duration (module code and hooks).
    @discardableResult
    public func runBeforeSnapshotHooks(report: inout LifecycleReport) throws -> Double {
        let (process, conn, deadline) = (session.process, session.connection, session.deadline)
        let failure = failure(.beforeSnapshot)
        do { try conn.send(.beforeSnapshot) } catch {
            throw failure.fail("the before-snapshot signal could not be sent (\(error))", type: .runtimeExitError,
                               report: &report)
        }
        switch try conn.receive(deadline: deadline) {
        case .message(.snapshotReady): break
        case .message(.beforeSnapshotError(let m)):
            let cause = m.error
            let exit = process.waitForExit(timeout: 5)
            let e = cause.wrapped(as: .runtimeBeforeSnapshotError)
            throw failure.fail("a before-snapshot hook raised \(cause.errorType): \(cause.errorMessage) "
                               + "(runtime \(exit.map { "\($0)" } ?? "did not exit")); no snapshot was taken",
                               lambdaError: e, report: &report)
        case let other: throw failure.unexpected(other, during: "the before-snapshot hooks",
                                                 timeoutLabel: "The before-snapshot hooks", report: &report)
        }
        try awaitChannelClosed(report: &report)
        parked = true
        let initSeconds = Clock.now - session.start
        phase.log.initReport(seconds: initSeconds, status: "success")
        report.phases.append(PhaseReport(phase: "init", durationMs: initSeconds * 1000, status: "success"))
        return initSeconds
    }

    /// The agent closes its end before parking: a socket to a peer outside the tree cannot be checkpointed. It
    /// does so at once; if the EOF does not come, another process of the sandbox holds a copy of the socket.
    private func awaitChannelClosed(report: inout LifecycleReport) throws {
        let (process, conn) = (session.process, session.connection)
        switch try conn.receive(deadline: min(session.deadline, Clock.now + InitPhase.channelCloseSeconds)) {
        case .closed: return
        case .timedOut:
            let others = ProcFile.descendants(of: process.pid).filter { $0 != conn.peer }
                .map { "pid \($0) (\(ProcFile.commandLine($0)))" }
            throw failure(.`init`).fail(
                "the runtime closed its control channel for the snapshot, but "
                + (others.isEmpty ? "another process still holds it"
                   : "a process started during Init still holds a copy of it: \(others.joined(separator: ", "))"),
                hint: "On Lambda, processes started during Init are frozen into the snapshot with the runtime. This one "
                    + "was forked without Python's at-fork hooks (by C code, e.g. ctypes or an extension), so it kept "
                    + "the runtime's descriptors; close the descriptors it does not need in the child, or start it with "
                    + "subprocess (close_fds=True)", report: &report)
        case .message(let m):
            throw failure(.beforeSnapshot).fail("the runtime sent \(m.type) after snapshot_ready", type: .runtimeUnknown,
                                                report: &report)
        case .malformed(let why):
            throw failure(.beforeSnapshot).fail("the runtime sent \(why) after snapshot_ready", type: .runtimeUnknown,
                                                report: &report)
        }
    }

    /// Checkpoints the parked environment into `snapshot` (the process goes with it); the code and merged layers are
    /// copied in, the environment's binds recorded as external mounts. `initSeconds`: Init's duration, recorded.
    public func checkpoint(into snapshot: SnapshotDirectory, initSeconds: Double) throws -> SnapshotManifest {
        let function = phase.functionManifest(initSeconds: initSeconds, session: session)
        let manifest = try phase.checkpoint(session, function: function, into: snapshot)
        ended = true
        if let token = session.token { phase.credentials?.revoke(token) } // rotated: copies get tokens of their own
        session.release()
        return manifest
    }

    /// The credential token Init's environment was given (`Lifecycle` counts its fetches).
    var credentialToken: String? { session.token }

    /// Asks the runtime to exit (stops it, once it has parked for a checkpoint that did not come) and removes what
    /// Init made; idempotent.
    public func shutdown() {
        guard !parked else { return terminate() }
        guard !ended else { return }
        ended = true
        session.close()
    }

    /// Stops the process without asking (a failed step), and removes what Init made; idempotent.
    func terminate() {
        guard !ended else { return }
        ended = true
        session.process.terminate()
        session.release()
    }

    private func failure(_ phase: LifecyclePhase) -> InitPhase.Failure {
        InitPhase.Failure(phase: phase, process: session.process, start: session.start, config: self.phase.config,
                          log: self.phase.log, cgroup: session.cgroup)
    }
}
#endif
