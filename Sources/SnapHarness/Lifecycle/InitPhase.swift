#if os(Linux)
import Foundation
import Glibc

/// Init -> before-snapshot hooks -> checkpoint: what Lambda does when a version is published with SnapStart.
struct InitPhase {
    let criu: Criu
    let config: FunctionConfig
    let runtime: RuntimeFiles
    let log: LambdaLog

    var runtimeVersion: String { "python:\(FunctionConfig.pythonVersion(of: config.python)).snapharness" }

    struct Outcome {
        var manifest: SnapshotManifest
        var initSeconds: Double
        var beforeSnapshotHooks: [String]
        var afterRestoreHooks: [String]
    }

    func run(into snapshot: SnapshotDirectory, report: inout LifecycleReport) throws -> Outcome {
        try config.validate()
        let listener = try ControlListener()
        defer { listener.close() }
        var spec = SandboxSpec(executable: config.python, arguments: ["-u", runtime.agent],
                               environment: config.environment(runtime: runtime),
                               workingDirectory: config.directory,
                               tmpBytes: UInt64(config.ephemeralStorageMB) << 20)
        // Code that lives under /tmp on the host stays visible inside the function's private /tmp.
        spec.exposedPaths = [config.directory, runtime.directory, runtime.library]
        log.initStart(runtime: runtimeVersion)
        let start = Clock.now
        let deadline = start + config.initTimeout
        let log = self.log
        let process = try SandboxedProcess.spawn(spec, stdin: listener.addressLine) { _, line in log.line(line) }
        var parked = false
        defer { if !parked { process.terminate() } }

        func fail(_ phase: LifecyclePhase, _ message: String, status: String = "error", errorType: String? = nil,
                  lambdaError: LambdaError? = nil, hint: String? = nil) -> LifecycleError {
            process.terminate() // never leave it running or frozen
            let seconds = Clock.now - start
            log.initReport(seconds: seconds, status: status, errorType: errorType ?? lambdaError?.errorType)
            report.phases.append(PhaseReport(phase: "init", durationMs: seconds * 1000, status: status))
            return LifecycleError(phase, message, lambdaError: lambdaError, hint: hint)
        }
        func timedOut(_ phase: LifecyclePhase, _ what: String) -> LifecycleError {
            fail(phase, "\(what) did not finish within the Init limit of \(Int(config.initTimeout)) s; the function was stopped",
                 status: "timeout", errorType: "Runtime.InitTimeout",
                 hint: "Init (module code and before-snapshot hooks) may take at most max(130 s, --timeout) on Lambda; "
                     + "--init-timeout changes the limit here")
        }
        func died(_ phase: LifecyclePhase, _ what: String) -> LifecycleError {
            let status = process.waitForExit(timeout: 5)
            return fail(phase, "the function process \(status.map { "\($0)" } ?? "stopped") during \(what)",
                        errorType: "Runtime.ExitError")
        }

        guard let conn = try listener.accept(from: process.process, deadline: deadline) else {
            if process.process.poll() != nil { throw died(.`init`, "start-up") }
            throw timedOut(.`init`, "start-up")
        }
        guard case .message(let hello) = try conn.receive(deadline: deadline), hello.type == "hello" else {
            throw died(.`init`, "start-up")
        }
        guard hello.protocol == ControlProtocol.version else {
            throw fail(.`init`, "the runtime agent speaks protocol \(hello.protocol ?? 0), this supervisor \(ControlProtocol.version)")
        }

        // Init: the handler module's code.
        let initDone: AgentMessage
        switch try conn.receive(deadline: deadline) {
        case .message(let m) where m.type == "init_done": initDone = m
        case .message(let m) where m.type == "init_error":
            let e = m.error ?? LambdaError(errorMessage: "unknown", errorType: "Runtime.Unknown")
            throw fail(.`init`, "\(e.errorType): \(e.errorMessage)", lambdaError: e, hint: m.hint)
        case .message(let m): throw fail(.`init`, "unexpected control message \(m.type)")
        case .closed: throw died(.`init`, "Init")
        case .timedOut: throw timedOut(.`init`, "Init (module code)")
        }

        // Before-snapshot hooks.
        try conn.send(.beforeSnapshot)
        switch try conn.receive(deadline: deadline) {
        case .message(let m) where m.type == "snapshot_ready": break
        case .message(let m) where m.type == "before_snapshot_error":
            let cause = m.error ?? LambdaError(errorMessage: "unknown", errorType: "Exception")
            let exit = process.waitForExit(timeout: 5)
            let e = LambdaError(errorMessage: "\(cause.errorType): \(cause.errorMessage)",
                                errorType: "Runtime.BeforeSnapshotError", stackTrace: cause.stackTrace)
            throw fail(.beforeSnapshot, "a before-snapshot hook raised \(cause.errorType): \(cause.errorMessage) "
                       + "(runtime \(exit.map { "\($0)" } ?? "did not exit")); no snapshot was taken", lambdaError: e)
        case .message(let m): throw fail(.beforeSnapshot, "unexpected control message \(m.type)")
        case .closed: throw died(.beforeSnapshot, "the before-snapshot hooks")
        case .timedOut: throw timedOut(.beforeSnapshot, "The before-snapshot hooks")
        }
        // The agent closes its end before parking: a socket to a peer outside the tree cannot be checkpointed.
        guard case .closed = try conn.receive(deadline: deadline) else {
            throw fail(.beforeSnapshot, "the runtime agent did not close the control channel before the snapshot")
        }
        let initSeconds = Clock.now - start
        log.initReport(seconds: initSeconds, status: "success")
        report.phases.append(PhaseReport(phase: "init", durationMs: initSeconds * 1000, status: "success"))

        let checkpointStart = Clock.now
        let manifest: SnapshotManifest
        do {
            var function = FunctionManifest(
                handlerDirectory: config.directory, handler: config.handler, python: config.python,
                environment: config.environment(runtime: runtime), timeoutSeconds: config.timeout,
                restoreTimeoutSeconds: config.restoreTimeout, memorySizeMB: config.memoryMB, initSeconds: initSeconds)
            function.beforeSnapshotHooks = initDone.beforeSnapshotHooks ?? []
            function.afterRestoreHooks = initDone.afterRestoreHooks ?? []
            manifest = try criu.checkpoint(process, to: snapshot, function: function)
        } catch {
            process.terminate()
            report.phases.append(PhaseReport(phase: "checkpoint", durationMs: (Clock.now - checkpointStart) * 1000,
                                             status: "error"))
            throw LifecycleError(.checkpoint, "\(error)")
        }
        parked = true
        report.phases.append(PhaseReport(phase: "checkpoint", durationMs: (Clock.now - checkpointStart) * 1000,
                                         status: "success"))
        return Outcome(manifest: manifest, initSeconds: initSeconds,
                       beforeSnapshotHooks: initDone.beforeSnapshotHooks ?? [],
                       afterRestoreHooks: initDone.afterRestoreHooks ?? [])
    }
}
#endif
