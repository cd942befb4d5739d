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
        // The environment's network exists before the cold start too, as the restore's does (not timed in either).
        let network = try EnvironmentNetwork.create()
        let start = Clock.now
        let environment = try InitializedEnvironment.start(onDemand, lifecycle: Lifecycle(criu: criu, log: .silent, runtime: runtime),
                                                           network: network, report: &scratch)
        defer { environment.shutdown() }
        let ready = Clock.now
        do { try environment.invokeCold(requestId: requestId, event: event) } catch let error as HarnessError {
            throw HarnessError.input("cold start: \(error)")
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
        let network = try EnvironmentNetwork.create()
        let start = Clock.now
        let environment = try InitializedEnvironment.start(config, lifecycle: Lifecycle(criu: criu, log: .silent, runtime: runtime),
                                                           network: network, report: &scratch)
        defer { environment.shutdown() } // a no-op once checkpointed
        let initEnd = Clock.now
        do { try environment.runBeforeSnapshotHooks(report: &scratch) } catch let error as LifecycleError {
            throw HarnessError.input("snapshot: the before-snapshot hooks failed: \(error.message)")
        }
        let hooksEnd = Clock.now
        let manifest = try environment.checkpoint(into: snapshot, initSeconds: hooksEnd - start)
        let end = Clock.now
        return (["init": (initEnd - start) * 1000, "hooks": (hooksEnd - initEnd) * 1000, "checkpoint": (end - hooksEnd) * 1000,
                 "dump": manifest.dumpSeconds * 1000, "imageMiB": Double(manifest.imageBytes) / 1_048_576], manifest)
    }
}

#endif
