#if os(Linux)
import Foundation

/// The SnapStart lifecycle end to end: `snapshot` (Init + before-snapshot hooks + checkpoint), `restore` (N copies
/// of one snapshot, concurrently, each with after-restore hooks and K invocations), and `run` (both in one go).
public struct Lifecycle: Sendable {
    public let criu: Criu
    public let log: LambdaLog

    public init(criu: Criu, log: LambdaLog) {
        self.criu = criu
        self.log = log
    }

    /// Init + hooks + checkpoint into `snapshot`.
    @discardableResult
    public func snapshot(_ config: FunctionConfig, to snapshot: SnapshotDirectory,
                         report: inout LifecycleReport) throws -> SnapshotManifest {
        report.function = config.functionName
        report.handler = config.handler
        let runtime = try RuntimeFiles.locate()
        let outcome = try InitPhase(criu: criu, config: config, runtime: runtime, log: log).run(into: snapshot, report: &report)
        report.snapshot = SnapshotReport(path: snapshot.path, imageBytes: outcome.manifest.imageBytes,
                                         checkpointMs: outcome.manifest.dumpSeconds * 1000,
                                         beforeSnapshotHooks: outcome.beforeSnapshotHooks,
                                         afterRestoreHooks: outcome.afterRestoreHooks)
        return outcome.manifest
    }

    /// Restores `copies` copies side by side; each runs its after-restore hooks, then gets `invocations` events.
    /// Every copy is torn down before this returns. Throws the first failure after all copies have finished.
    public func restore(_ snapshot: SnapshotDirectory, copies: Int, invocations: Int, event: String,
                        report: inout LifecycleReport, onResult: @escaping @Sendable (Int, InvocationReport) -> Void = { _, _ in })
        throws {
        let manifest: SnapshotManifest
        do { manifest = try snapshot.loadManifest() } catch { throw LifecycleError(.input, "\(error)") }
        guard let function = manifest.function else {
            throw LifecycleError(.input, "\(snapshot.path) holds a bare process, not a Lambda function; "
                                 + "create one with `snapharness snapshot DIR -o SNAP`")
        }
        report.function = report.function ?? function.environment["AWS_LAMBDA_FUNCTION_NAME"]
        report.handler = report.handler ?? function.handler
        let log = self.log.copyingWithLabels(copies > 1)
        let criu = self.criu
        let outcomes = Concurrently.map(copies) { i -> (CopyReport, LifecycleError?) in
            let copy = FunctionCopy(index: i + 1, criu: criu, snapshot: snapshot, manifest: manifest,
                                    function: function, log: log)
            defer { copy.shutdown() }
            do {
                try copy.restore()
            } catch let e as LifecycleError {
                return (copy.report, e)
            } catch {
                return (copy.report, LifecycleError(.restore, "\(error)"))
            }
            var failure: LifecycleError?
            for k in 0..<invocations where copy.isRunning {
                let r = copy.invoke(event: event, first: k == 0)
                onResult(i + 1, r)
                if r.status != "success", failure == nil {
                    failure = LifecycleError(.invoke, "\(r.error?.errorType ?? r.status): \(r.error?.errorMessage ?? "")",
                                             lambdaError: r.error)
                }
            }
            copy.shutdown()
            return (copy.report, failure)
        }
        for (copyReport, _) in outcomes {
            report.copies.append(copyReport)
            if let ms = copyReport.restoreMs {
                report.phases.append(PhaseReport(phase: "restore", durationMs: ms, status: copyReport.status == "done" ? "success" : copyReport.status,
                                                 copy: copyReport.copy))
            }
        }
        // Restore and hook failures outrank handler errors: they mean the environment never served.
        let failures = outcomes.compactMap(\.1)
        if let worst = failures.min(by: { $0.phase.exitCode < $1.phase.exitCode }) {
            throw worst
        }
    }

    /// `snapshot` into a private temporary folder, then `restore`; the snapshot is deleted afterwards.
    public func run(_ config: FunctionConfig, copies: Int, invocations: Int, event: String,
                    report: inout LifecycleReport, onResult: @escaping @Sendable (Int, InvocationReport) -> Void = { _, _ in })
        throws {
        var template = Array("/tmp/snapharness-run-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp /tmp/snapharness-run-XXXXXX") }
        let scratch = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let snapshotDir = SnapshotDirectory(path: scratch + "/snapshot")
        try snapshot(config, to: snapshotDir, report: &report)
        report.snapshot?.path = nil // temporary
        try restore(snapshotDir, copies: copies, invocations: invocations, event: event, report: &report, onResult: onResult)
    }
}
#endif
