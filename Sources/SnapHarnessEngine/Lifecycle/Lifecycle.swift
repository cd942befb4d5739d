#if os(Linux)
import Foundation
import SnapHarnessProtocol

/// The SnapStart lifecycle end to end: `snapshot` (Init + before-snapshot hooks + checkpoint), `restore` (N copies
/// of one snapshot, concurrently, each with after-restore hooks and K invocations), and `run` (both in one go).
public struct Lifecycle: Sendable {
    public let criu: Criu
    public let log: LambdaLog
    /// The local container-credentials endpoint every environment gets (rotated per restored copy).
    public let credentials: ContainerCredentialsServer?

    /// The runtime files, located once by a caller that starts many environments (bench: never inside its clock);
    /// nil: located at each Init.
    public let runtime: RuntimeFiles?

    public init(criu: Criu, log: LambdaLog, credentials: ContainerCredentialsServer? = nil, runtime: RuntimeFiles? = nil) {
        self.criu = criu
        self.log = log
        self.credentials = credentials
        self.runtime = runtime
    }

    /// Per-copy options of `restore`.
    public struct RestoreOptions: Sendable {
        public var copies: Int
        public var invocations: Int
        public var event: String
        /// Ask each copy's inspector for facts after its invocations (for `check`); `run` inspects the snapshot too
        /// (`LifecycleReport.inspection`).
        public var inspect: Bool
        /// Restore lazily (`RestoreSource.lazyPages`); nil: as the snapshot's size says (`RestoreSource.prefersLazyPages`).
        public var lazyPages: Bool?

        public init(copies: Int = 1, invocations: Int = 1, event: String = "{}", inspect: Bool = false, lazyPages: Bool? = nil) {
            self.lazyPages = lazyPages
            self.copies = copies
            self.invocations = invocations
            self.event = event
            self.inspect = inspect
        }
    }

    func initPhase(_ config: FunctionConfig) throws -> InitPhase {
        InitPhase(criu: criu, config: config, runtime: try runtime ?? RuntimeFiles.locate(), log: log, credentials: credentials)
    }

    /// Init + hooks + checkpoint into `snapshot`.
    @discardableResult
    /// `inspect`: record what the snapshot will hold in `report.inspection` (see `InitPhase.inspect`).
    public func snapshot(_ config: FunctionConfig, to snapshot: SnapshotDirectory, report: inout LifecycleReport,
                         inspect: Bool = false) throws -> SnapshotManifest {
        report.function = config.functionName
        report.handler = config.handler
        // Refuse a bad -o before spending an Init on it.
        do { try snapshot.checkWritableOutput() } catch { throw LifecycleError(.input, cause: error) }
        // The snapshot copies the code and layers into itself: inside one of them it would copy itself. (What is
        // wrong with the function itself is said first.)
        do { try config.validate() } catch { throw LifecycleError(.input, cause: error) }
        for folder in (config.image == nil ? [config.directory] : []) + config.layers {
            let inside = URL(fileURLWithPath: snapshot.path).standardizedFileURL.path
            let source = URL(fileURLWithPath: folder).standardizedFileURL.path
            if inside == source || inside.hasPrefix(source.hasSuffix("/") ? source : source + "/") {
                throw LifecycleError(.input, "-o \(snapshot.path) is inside \(folder), which the snapshot copies into "
                                     + "itself; write the snapshot outside the function's folder and its layers")
            }
        }
        var phase = try initPhase(config)
        phase.inspect = inspect
        let outcome = try phase.run(into: snapshot, report: &report)
        report.snapshot = SnapshotReport(path: snapshot.path, imageBytes: outcome.manifest.imageBytes,
                                         checkpointMs: outcome.manifest.dumpSeconds * 1000,
                                         beforeSnapshotHooks: outcome.beforeSnapshotHooks,
                                         afterRestoreHooks: outcome.afterRestoreHooks)
        report.snapshot?.initCredentialFetches = outcome.initToken.map { credentials?.fetches($0) ?? 0 }
        return outcome.manifest
    }

    /// A fresh Init of the function, inspected and shut down, never snapshotted (the reference `check` compares
    /// restored copies against).
    public func referenceFacts(_ config: FunctionConfig) throws -> FunctionFacts {
        var scratch = LifecycleReport()
        return try initPhase(config).reference(report: &scratch)
    }

    /// Restores `options.copies` copies side by side; each runs its after-restore hooks, then gets
    /// `options.invocations` events. Every copy is torn down before this returns. Throws the first failure after
    /// all copies have finished.
    public func restore(_ snapshot: SnapshotDirectory, _ options: RestoreOptions, report: inout LifecycleReport,
                        onResult: @escaping @Sendable (Int, InvocationReport) -> Void = { _, _ in }) throws {
        do { try PayloadLimits.checkRequest(options.event) } catch { throw LifecycleError(.input, cause: error) }
        var opened = try RestoreSource.open(snapshot, criu: criu)
        opened.lazyPages = options.lazyPages ?? opened.prefersLazyPages
        if options.lazyPages == nil && opened.lazyPages {
            log.line(RestoreSource.lazyByDefaultNote(manifest: opened.manifest))
        }
        let source = opened
        let function = source.function
        report.function = report.function ?? function.environment["AWS_LAMBDA_FUNCTION_NAME"]
        report.handler = report.handler ?? function.handler
        let log = self.log.copyingWithLabels(options.copies > 1)
        let (criu, credentials) = (self.criu, self.credentials)
        let outcomes = Concurrently.map(options.copies) { i -> (CopyReport, LifecycleError?) in
            let copy = RestoredEnvironment(index: i + 1, criu: criu, source: source, log: log, credentials: credentials)
            defer { copy.shutdown() }
            do {
                try Interrupts.check()
                try copy.restore()
            } catch let e as LifecycleError {
                return (copy.report, e)
            } catch {
                return (copy.report, LifecycleError(.restore, cause: error))
            }
            var failure: LifecycleError?
            for k in 0..<options.invocations where copy.isRunning && Interrupts.received == nil {
                let r = copy.invoke(event: options.event, first: k == 0)
                onResult(i + 1, r)
                if r.status != .success, failure == nil {
                    failure = LifecycleError(.invoke, "\(r.error?.errorType ?? r.status.rawValue): \(r.error?.errorMessage ?? "")",
                                             lambdaError: r.error)
                }
            }
            var facts: FunctionFacts?
            if options.inspect, copy.isRunning {
                do { facts = try copy.inspect() } catch { failure = failure ?? LifecycleError(.invoke, cause: error) }
            }
            copy.shutdown()
            var copyReport = copy.report
            copyReport.facts = facts
            copyReport.credentialFetches = copy.credentialsToken.map { credentials?.fetches($0) ?? 0 }
            return (copyReport, failure)
        }
        for (copyReport, _) in outcomes {
            report.copies.append(copyReport)
            if let ms = copyReport.restoreMs {
                report.phases.append(PhaseReport(phase: "restore", durationMs: ms,
                                                 status: copyReport.status == "done" ? "success" : copyReport.status,
                                                 copy: copyReport.copy))
            }
        }
        // Restore and hook failures outrank handler errors: they mean the environment never served.
        let failures = outcomes.compactMap(\.1)
        if let worst = failures.min(by: { $0.phase.exitCode < $1.phase.exitCode }) {
            throw worst
        }
    }

    /// `snapshot` into a private temporary folder, optionally wait `restoreDelay` seconds (to show what copies
    /// restored later see: expired tokens, stale timestamps), then `restore`; the snapshot is deleted afterwards.
    public func run(_ config: FunctionConfig, _ options: RestoreOptions, restoreDelay: Double = 0,
                    report: inout LifecycleReport,
                    onResult: @escaping @Sendable (Int, InvocationReport) -> Void = { _, _ in }) throws {
        // An event Lambda would refuse never costs an Init.
        do { try PayloadLimits.checkRequest(options.event) } catch { throw LifecycleError(.input, cause: error) }
        let scratch = try ScratchFolder.make("/tmp/snapharness-run")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let snapshotDir = SnapshotDirectory(path: scratch + "/snapshot")
        try snapshot(config, to: snapshotDir, report: &report, inspect: options.inspect)
        report.snapshot?.path = nil // temporary
        if restoreDelay > 0 {
            log.line("snapharness: waiting \(DurationText.describe(restoreDelay)) before restoring (--restore-delay)")
            try Interrupts.sleep(restoreDelay)
        }
        try Interrupts.check()
        try restore(snapshotDir, options, report: &report, onResult: onResult)
    }
}
#endif
