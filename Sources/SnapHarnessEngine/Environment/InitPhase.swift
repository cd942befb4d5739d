#if os(Linux)
import Foundation
import SnapHarnessProtocol
import Glibc

/// Init -> before-snapshot hooks -> checkpoint: what Lambda does when a version is published with SnapStart.
/// The same start-up also serves as a reference Init (inspected, never snapshotted) for `check`, and as the cold,
/// on-demand path for `bench`.
struct InitPhase {
    let criu: Criu
    let config: FunctionConfig
    let runtime: RuntimeFiles
    let log: LambdaLog
    var credentials: ContainerCredentialsServer?
    /// Inspect what the snapshot will hold (`check`): the inspector's facts at the end of Init, before the
    /// before-snapshot hooks (to tell a value frozen in the snapshot from one each copy made again), and the parked
    /// tree's connections and /tmp right before the dump, into `LifecycleReport.inspection`.
    var inspect = false
    /// A network namespace made beforehand (bench makes it before its clock); the session owns it from `begin` on.
    var network: EnvironmentNetwork?

    init(criu: Criu, config: FunctionConfig, runtime: RuntimeFiles, log: LambdaLog,
                 credentials: ContainerCredentialsServer? = nil) {
        self.criu = criu
        self.config = config
        self.runtime = runtime
        self.log = log
        self.credentials = credentials
    }

    /// How long the runtime's channel may stay open after snapshot_ready (it closes it right away).
    static let channelCloseSeconds = 5.0

    var runtimeVersion: String { config.runtimeClient.runtimeVersion(python: config.python) }

    struct Outcome {
        var manifest: SnapshotManifest
        var initSeconds: Double
        var beforeSnapshotHooks: [String]
        var afterRestoreHooks: [String]
        var initToken: String?
    }

    /// A started function process, up to `init_done`.
    final class Session {
        let process: SandboxedProcess
        let connection: ControlConnection
        let listener: ControlListener
        let start: Double
        let deadline: Double
        let initDone: AgentMessage.InitDone
        let token: String?
        /// The function's environment (without the per-environment credential token), as the manifest records it.
        let environment: [String: String]
        /// Lambda's folders as this Init had them; the merged layers are removed with the session.
        let layout: LambdaFilesystem
        let mergedLayers: String?
        /// The Init environment's memory cgroup (removed with the session).
        let cgroup: EnvironmentCgroup?
        /// The Init environment's network namespace (dumped as external, removed with the session).
        let network: EnvironmentNetwork
        /// The Init environment's /tmp disk (moved into the snapshot by a checkpoint, else removed with the session).
        let storage: EphemeralStorage

        init(process: SandboxedProcess, connection: ControlConnection, listener: ControlListener, start: Double,
             deadline: Double, initDone: AgentMessage.InitDone, token: String?, environment: [String: String],
             layout: LambdaFilesystem, mergedLayers: String?, cgroup: EnvironmentCgroup?, network: EnvironmentNetwork,
             storage: EphemeralStorage) {
            self.storage = storage
            self.cgroup = cgroup
            self.network = network
            self.layout = layout
            self.mergedLayers = mergedLayers
            self.process = process
            self.connection = connection
            self.listener = listener
            self.start = start
            self.deadline = deadline
            self.initDone = initDone
            self.token = token
            self.environment = environment
        }

        /// Asks the runtime to exit and makes sure it did (after the extensions' Shutdown phase, if it has any).
        func close() {
            try? connection.send(.shutdown)
            if process.waitForExit(timeout: FunctionManifest.shutdownSeconds(extensions: !initDone.extensions.isEmpty)) == nil {
                process.terminate()
            }
            release()
        }

        /// The listener and the merged layers (once the process is gone or checkpointed).
        func release() {
            listener.close()
            if let mergedLayers { try? FileManager.default.removeItem(atPath: mergedLayers) }
            cgroup?.remove()
            network.remove()
            storage.discard()
        }
    }

    /// Spawns the function and runs Init (the handler module's code) within the Init limit. `snapshotFolder`: where
    /// a checkpoint will write the snapshot (the /tmp disk is made beside it when it can be).
    func begin(snapshotFolder: String? = nil, report: inout LifecycleReport) throws -> Session {
        // Everything made here goes again if Init does not get as far as a session that owns it (a network made
        // beforehand included: it is this Init's from here on).
        var made: (layers: String?, listener: ControlListener?, cgroup: EnvironmentCgroup?, process: SandboxedProcess?,
                   network: EnvironmentNetwork?, storage: EphemeralStorage?)
        made.network = network
        var ok = false
        defer {
            if !ok {
                made.process?.terminate()
                made.listener?.close()
                made.cgroup?.remove()
                made.network?.remove()
                made.storage?.discard()
                if let layers = made.layers { try? FileManager.default.removeItem(atPath: layers) }
            }
        }
        try config.validate()
        if config.runtimeClient == .awslambdaric { try runtime.checkAWSRuntimeClient(python: config.python) }
        try LambdaFilesystem.prepareEmptyLayers()
        let merged = config.layers.isEmpty ? nil : try LambdaFilesystem.mergeLayers(config.layers)
        made.layers = merged
        let layout = config.filesystem(runtime: runtime, layers: merged)
        let cgroup = try config.makeCgroup(label: "init")
        made.cgroup = cgroup
        let network = try made.network ?? EnvironmentNetwork.create()
        made.network = network
        let listener = try ControlListener(network: network)
        made.listener = listener
        let baseEnvironment = config.environment(runtime: runtime)
        var env = baseEnvironment
        let token = credentials?.issueToken(label: "init")
        if let credentials, let token { env.merge(credentials.environment(token: token)) { _, new in new } }
        let storage = try EphemeralStorage.create(bytes: UInt64(config.ephemeralStorageMB) << 20, near: snapshotFolder)
        made.storage = storage
        let spec = try sandboxSpec(environment: env, layout: layout, network: network, storage: storage, cgroup: cgroup)
        log.initStart(runtime: runtimeVersion)
        let start = Clock.now
        let deadline = start + config.initTimeout
        let log = self.log
        let process = try SandboxedProcess.spawn(spec, stdin: listener.addressLine) { _, line in log.line(line) }
        storage.handedOver()
        made.process = process
        let failure = Failure(phase: .`init`, process: process, start: start, config: config, log: log, cgroup: cgroup)

        let (conn, initDone) = try awaitInitDone(process, listener: listener, deadline: deadline, failure: failure,
                                                 report: &report)
        ok = true
        return Session(process: process, connection: conn, listener: listener, start: start, deadline: deadline,
                       initDone: initDone, token: token, environment: baseEnvironment, layout: layout, mergedLayers: merged,
                       cgroup: cgroup, network: network, storage: storage)
    }

    /// The sandbox Init runs in: Lambda's folders bound into the environment's root, its network, its /tmp disk, its
    /// limits and user.
    private func sandboxSpec(environment: [String: String], layout: LambdaFilesystem, network: EnvironmentNetwork,
                             storage: EphemeralStorage, cgroup: EnvironmentCgroup?) throws -> SandboxSpec {
        let (executable, arguments) = config.launch()
        var spec = SandboxSpec(executable: executable, arguments: arguments,
                               environment: environment,
                               workingDirectory: config.image == nil ? LambdaFilesystem.taskRoot : config.imageWorkingDirectory,
                               tmpBytes: UInt64(config.ephemeralStorageMB) << 20)
        spec.root = try config.environmentRoot()
        spec.binds = layout.binds
        spec.network = network
        spec.tmpMount = storage.mountFD
        spec.maxFiles = FunctionConfig.maxFiles
        // Lambda's 1,024 processes per environment: the cgroup's own count when it has one (RLIMIT_NPROC counts the
        // uid's processes across every environment, so one at its limit would stop the others from forking).
        spec.maxProcesses = cgroup?.pidsPath != nil ? 0 : FunctionConfig.maxProcesses
        spec.cgroup = cgroup
        if !config.user.isRoot { spec.user = (config.user.uid, config.user.gid) }
        return spec
    }

    /// The runtime dials in, says hello in this supervisor's protocol, and reports the end of its module code.
    private func awaitInitDone(_ process: SandboxedProcess, listener: ControlListener, deadline: Double, failure: Failure,
                               report: inout LifecycleReport) throws -> (ControlConnection, AgentMessage.InitDone) {
        guard let conn = try listener.accept(from: process.process, deadline: deadline,
                                                throughWrapper: config.runtimeClient == .builtin && config.usesExecWrapper) else {
            if process.process.poll() != nil { throw failure.died("start-up", report: &report) }
            throw failure.timedOut("start-up", report: &report)
        }
        // The built-in agent must be pid 1's child: the restore signal goes there (a Runtime API server is pid 1 itself).
        if config.runtimeClient == .builtin && config.usesExecWrapper && ProcFile.parent(of: conn.peer) != process.pid {
            let wrapper = config.userEnvironment["AWS_LAMBDA_EXEC_WRAPPER"] ?? ""
            throw failure.fail("the wrapper script \(wrapper) (AWS_LAMBDA_EXEC_WRAPPER) runs the runtime as a child of its "
                               + "own instead of replacing itself with it", type: .runtimeExitError,
                               hint: "end the wrapper with `exec \"$@\"` (Lambda's examples do): the built-in runtime is "
                                   + "woken after each restore by a signal to pid 1's child, which would be the wrapper; "
                                   + "--runtime-client awslambdaric takes any wrapper (its restore goes through the "
                                   + "Runtime API, as on Lambda)", report: &report)
        }
        let greeting = try conn.receive(deadline: deadline)
        guard case .message(.hello(let hello)) = greeting else {
            throw failure.unexpected(greeting, during: "start-up", report: &report)
        }
        guard hello.protocol == ControlProtocol.version else {
            throw failure.fail("the runtime agent speaks protocol \(hello.protocol ?? 0), this supervisor "
                               + "\(ControlProtocol.version)", report: &report)
        }
        switch try conn.receive(deadline: deadline) {
        case .message(.initDone(let m)):
            log.extensions(m.extensions)
            if !m.extensions.isEmpty { report.extensions = m.extensions }
            return (conn, m)
        case .message(.initError(let m)):
            let e = m.error
            throw failure.fail("\(e.errorType): \(e.errorMessage)", lambdaError: e, hint: m.hint ?? InitPhase.hint(for: e),
                               report: &report)
        case let other: throw failure.unexpected(other, during: "Init", timeoutLabel: "Init (module code)", report: &report)
        }
    }

    /// Why Lambda would refuse to publish a SnapStart version of `image`, if it would: an image that is neither one
    /// of AWS's base images (Python 3.12+) nor labelled `com.amazonaws.lambda.feature.snapstart="Allow"` must run a
    /// runtime that asks for restore/next after Init (AWS: "Implementing SnapStart hooks for container images").
    static func snapStartRefusal(_ image: ContainerImage, parkedIn: String?) -> (message: String, hint: String)? {
        guard !image.isAWSPythonBaseImage, !image.allowsSnapStart, parkedIn != "restore" else { return nil }
        return ("Lambda refuses SnapStart for the image \(image.reference): it is not one of AWS's base images for "
                + "Python 3.12 or later, it has no LABEL \(ContainerImage.snapStartLabel)=\"Allow\", and its runtime "
                + "did not call GET /2018-06-01/runtime/restore/next after Init (it asked for an invocation); no "
                + "snapshot was taken",
                "add `LABEL \(ContainerImage.snapStartLabel)=\"Allow\"` to the image, or have its runtime call "
                + "restore/next when Init is done (then run its after-restore hooks when that call returns)")
    }

    /// What to do about an Init error a runtime client reports, where snapharness knows more than the runtime says.
    static func hint(for error: LambdaError) -> String? {
        if error.errorType.hasPrefix("Extension.") {
            return "an extension (an executable in /opt/extensions, from a layer or the image) failed Init; its own "
                + "output above says why. Lambda fails Init the same way when an extension exits, cannot start, or "
                + "reports init/error"
        }
        if error.type == .runtimeImportModuleError && error.errorMessage.hasSuffix("No module named 'snapshot_restore'") {
            return "the hooks package is imported as `snapshot_restore_py` (PyPI: snapshot-restore-py); "
                + "`import snapshot_restore` fails on Lambda too"
        }
        return nil
    }

    /// Init + before-snapshot hooks + checkpoint into `snapshot`, on the `InitializedEnvironment` handle.
    func run(into snapshot: SnapshotDirectory, report: inout LifecycleReport) throws -> Outcome {
        let environment = InitializedEnvironment(
            phase: self, session: try begin(snapshotFolder: (snapshot.path as NSString).deletingLastPathComponent,
                                            report: &report))
        defer { environment.terminate() } // a no-op once checkpointed
        try environment.checkSnapStartAllowed()
        var initFactsAt = 0.0
        if inspect {
            report.inspection = SnapshotInspection(initFacts: try environment.inspect(report: &report))
            initFactsAt = Date().timeIntervalSince1970
        }
        let initSeconds = try environment.runBeforeSnapshotHooks(report: &report)
        if inspect {
            report.inspection?.checkpoint = environment.checkpointFacts()
            // Copies restore in a later wall-clock second than Init's facts were read (on Lambda, minutes later): a
            // clock reading in whole seconds that each copy takes again then differs from Init's. Only a function
            // holding a clock reading pays for the wait.
            let wait = (initFactsAt.rounded(.down) + 1) - Date().timeIntervalSince1970
            if report.inspection?.initFacts?.values.contains(where: { $0.kind == "timestamp" }) == true, wait > 0 {
                usleep(UInt32(wait * 1_000_000))
            }
        }
        let checkpointStart = Clock.now
        let manifest: SnapshotManifest
        do {
            manifest = try environment.checkpoint(into: snapshot, initSeconds: initSeconds)
        } catch {
            environment.terminate()
            report.phases.append(PhaseReport(phase: "checkpoint", durationMs: (Clock.now - checkpointStart) * 1000,
                                             status: "error"))
            throw LifecycleError(.checkpoint, cause: error)
        }
        report.phases.append(PhaseReport(phase: "checkpoint", durationMs: (Clock.now - checkpointStart) * 1000,
                                         status: "success"))
        return Outcome(manifest: manifest, initSeconds: initSeconds,
                       beforeSnapshotHooks: environment.beforeSnapshotHooks,
                       afterRestoreHooks: environment.afterRestoreHooks, initToken: environment.credentialToken)
    }

    /// Checkpoints a parked session: the environment's binds are external mounts (a restore binds its own), and the
    /// code and merged layers are copied into the snapshot.
    func checkpoint(_ session: Session, function: FunctionManifest, into snapshot: SnapshotDirectory) throws -> SnapshotManifest {
        let layout = session.layout
        var copies = config.image == nil ? [SnapshotDirectory.codeFolder: layout.task] : [:] // an image's code is in it
        if let merged = session.mergedLayers { copies[SnapshotDirectory.layersFolder] = merged }
        return try criu.checkpoint(session.process, to: snapshot, function: function,
                                   copies: copies, network: session.network,
                                   tcpEstablished: config.runtimeClient.usesRuntimeAPI || !session.initDone.extensions.isEmpty,
                                   storage: session.storage)
    }

    /// What the snapshot's manifest records about the function.
    func functionManifest(initSeconds: Double, session: Session) -> FunctionManifest {
        let initDone = session.initDone
        var function = FunctionManifest(
            handlerDirectory: config.directory, handler: config.handler, python: config.python,
            environment: session.environment, timeoutSeconds: config.timeout,
            restoreTimeoutSeconds: config.restoreTimeout, memorySizeMB: config.memoryMB, initSeconds: initSeconds)
        function.ephemeralStorageMB = config.ephemeralStorageMB
        function.user = config.user
        function.beforeSnapshotHooks = initDone.beforeSnapshotHooks
        function.afterRestoreHooks = initDone.afterRestoreHooks
        function.filesystem = session.layout
        function.lambdaCPU = config.lambdaCPU
        function.runtimeLibraries = runtime.libraryVersions
        function.enforceMemory = config.enforceMemory
        function.layers = config.layers
        function.runtimeClient = config.runtimeClient == .builtin ? nil : config.runtimeClient
        function.image = config.image
        function.extensions = initDone.extensions.isEmpty ? nil : initDone.extensions.map(\.name)
        return function
    }

    /// Init only, inspected and shut down: what a fresh, never-snapshotted environment looks like.
    func reference(report: inout LifecycleReport) throws -> FunctionFacts {
        let session = try begin(report: &report)
        defer { session.close() }
        guard let facts = try session.connection.inspect(deadline: Clock.now + 30) else {
            throw LifecycleError(.`init`, "the reference Init did not answer the inspection")
        }
        return facts
    }

    /// How Init-phase failures end: the process is killed (never left running or frozen), INIT_REPORT says why.
    struct Failure {
        let phase: LifecyclePhase
        let process: SandboxedProcess
        let start: Double
        let config: FunctionConfig
        let log: LambdaLog
        var cgroup: EnvironmentCgroup? = nil

        func fail(_ message: String, status: String = "error", type: LambdaErrorType? = nil,
                  lambdaError: LambdaError? = nil, hint: String? = nil, report: inout LifecycleReport) -> LifecycleError {
            process.terminate()
            let seconds = Clock.now - start
            log.initReport(seconds: seconds, status: status, errorType: type ?? lambdaError?.type)
            report.phases.append(PhaseReport(phase: "init", durationMs: seconds * 1000, status: status))
            var failure = LifecycleError(phase, message, lambdaError: lambdaError, hint: hint)
            failure.errorType = type ?? lambdaError?.type
            return failure
        }

        func timedOut(_ what: String, report: inout LifecycleReport) -> LifecycleError {
            fail("\(what) did not finish within the Init limit of \(Int(config.initTimeout)) s; the function was stopped",
                 status: "timeout", type: .runtimeInitTimeout,
                 hint: "Init (module code and before-snapshot hooks) may take at most max(130 s, --timeout) on Lambda; "
                     + "--init-timeout changes the limit here", report: &report)
        }

        /// Anything but the expected message, during `what`: each cause keeps its own words and error type.
        func unexpected(_ received: ControlConnection.Received, during what: String, timeoutLabel: String? = nil,
                        report: inout LifecycleReport) -> LifecycleError {
            switch received {
            case .closed: return died(what, report: &report)
            case .timedOut: return timedOut(timeoutLabel ?? what, report: &report)
            case .malformed(let why):
                return fail("during \(what), the runtime sent \(why)", type: .runtimeUnknown, report: &report)
            case .message(let m):
                return fail("during \(what), the runtime sent an unexpected control message \(m.type)",
                            type: .runtimeUnknown, report: &report)
            }
        }

        func died(_ what: String, report: inout LifecycleReport) -> LifecycleError {
            let status = process.waitForExit(timeout: 5)
            if cgroup?.outOfMemory == true {
                let e = LambdaError(errorMessage: "Runtime exited with error: signal: killed (out of memory: Init used "
                                    + "more than the memory size of \(config.memoryMB) MB)", type: .runtimeOutOfMemory)
                return fail("the function ran out of memory during \(what): it used more than --memory \(config.memoryMB) MB "
                            + "and was killed, as Lambda kills it", lambdaError: e,
                            hint: "raise --memory (Lambda's memory size), or allocate less during Init", report: &report)
            }
            return fail("the function process \(status.map { "\($0)" } ?? "stopped") during \(what)",
                        type: .runtimeExitError, report: &report)
        }
    }
}
#endif
