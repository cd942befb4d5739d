#if os(Linux)
import CCriu
import Foundation
import SnapHarnessEngine
import Glibc

/// Lambda's on-demand path: spawn the runtime, Init, invoke once. No snapshot anywhere.
///
/// Start-up and Init are the harness's own (`InitPhase.begin`: sandbox, user, environment, control channel, the
/// real agent); the agent serves an `invoke` right after `init_done` when no snapshot is asked for. So the cold
/// start and the restored copy run the same Python around the handler, the cold one with
/// AWS_LAMBDA_INITIALIZATION_TYPE=on-demand as Lambda's on-demand environments have it.
struct ColdStartDriver {
    let criu: Criu
    let config: FunctionConfig
    let runtime: RuntimeFiles
    let event: String

    func run(requestId: String) throws -> [String: Double] {
        var scratch = LifecycleReport()
        var onDemand = config
        onDemand.initializationType = "on-demand"
        var phase = InitPhase(criu: criu, config: onDemand, runtime: runtime, log: .silent)
        // The environment's network exists before the cold start too, as the restore's does (not timed in either).
        phase.network = try EnvironmentNetwork.create()
        let start = Clock.now
        let session = try phase.begin(report: &scratch)
        defer { session.close() }
        let ready = Clock.now
        try session.connection.send(.invoke(.init(
            requestId: requestId, event: event,
            deadlineMs: Int64((Date().timeIntervalSince1970 + config.timeout) * 1000),
            invokedFunctionArn: "arn:aws:lambda:\(config.region):000000000000:function:\(config.functionName)")))
        let reply = try session.connection.receive(deadline: Clock.now + config.timeout)
        guard case .message(.result) = reply else {
            throw HarnessError.input("cold start: the invocation failed: \(BenchmarkDrivers.describe(reply))")
        }
        let response = Clock.now
        return ["ready": (ready - start) * 1000, "firstResponse": (response - start) * 1000]
    }
}

/// Init -> before-snapshot hooks -> checkpoint, timing each phase on its own (`InitPhase.run` reports Init and
/// hooks only together): Init is the harness's `InitPhase.begin`, the checkpoint its `Criu.checkpoint`, and the
/// manifest is filled in as `InitPhase.run` fills it.
struct SnapshotDriver {
    let criu: Criu
    let config: FunctionConfig
    let runtime: RuntimeFiles

    func run(into snapshot: SnapshotDirectory) throws -> (metrics: [String: Double], manifest: SnapshotManifest) {
        var scratch = LifecycleReport()
        var phase = InitPhase(criu: criu, config: config, runtime: runtime, log: .silent)
        phase.network = try EnvironmentNetwork.create()
        let start = Clock.now
        let session = try phase.begin(report: &scratch)
        let (process, conn) = (session.process, session.connection)
        var parked = false
        defer {
            if !parked { process.terminate() }
            session.release()
        }
        let initEnd = Clock.now
        try conn.send(.beforeSnapshot)
        let ready = try conn.receive(deadline: session.deadline)
        guard case .message(.snapshotReady) = ready,
              case .closed = try conn.receive(deadline: session.deadline) else {
            throw HarnessError.input("snapshot: the before-snapshot hooks failed: \(BenchmarkDrivers.describe(ready))")
        }
        let hooksEnd = Clock.now
        let function = phase.functionManifest(initSeconds: hooksEnd - start, session: session)
        let manifest = try phase.checkpoint(session, function: function, into: snapshot)
        parked = true
        let end = Clock.now
        return (["init": (initEnd - start) * 1000, "hooks": (hooksEnd - initEnd) * 1000, "checkpoint": (end - hooksEnd) * 1000,
                 "dump": manifest.dumpSeconds * 1000, "imageMiB": Double(manifest.imageBytes) / 1_048_576], manifest)
    }
}

enum BenchmarkDrivers {
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
}

#endif
