#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// `snapharness check`: runs the lifecycle with several restored copies and finds the state that SnapStart freezes
/// into the snapshot. Values are judged by comparison, not by guessing: a value identical in every restored copy
/// but different in an independent, never-snapshotted Init of the same handler was made at Init by something random
/// (or by the clock) and is now shared by every copy. Constants are equal everywhere and never flagged.
public struct StaleStateCheck: Sendable {
    public let lifecycle: Lifecycle

    public init(lifecycle: Lifecycle) { self.lifecycle = lifecycle }

    public func run(_ config: FunctionConfig, copies: Int, invocations: Int = 1, event: String = "{}",
                    restoreDelay: Double = 0, lazyPages: Bool? = nil) throws -> CheckReport {
        precondition(copies >= 2, "comparing copies needs at least two")
        guard config.runtimeClient != .bootstrap else {
            throw HarnessError.input("check inspects a Python function's state; a custom runtime's (provided.al2023) "
                                     + "cannot be inspected. Use `run --restores 2` to compare copies by their output")
        }
        if let image = config.image, !image.isAWSPythonBaseImage {
            throw HarnessError.input("check inspects a Python function's state through AWS's Python runtime; \(image.reference) "
                                     + "is not one of AWS's Python base images. Use `run --image ... --restores 2` to compare "
                                     + "copies by their output")
        }
        var config = config
        config.loadInspector = true
        let reference = try lifecycle.referenceFacts(config)
        var report = LifecycleReport()
        do {
            try lifecycle.run(config, Lifecycle.RestoreOptions(copies: copies, invocations: invocations, event: event,
                                                               inspect: true, lazyPages: lazyPages),
                              restoreDelay: restoreDelay, report: &report)
        } catch let error as LifecycleError where error.phase == .invoke {
            // A failing handler is often the symptom itself (a dead connection): keep going and report it.
        }
        let inspection = report.inspection ?? SnapshotInspection()
        let findings = StaleStateCheck.findings(reference: reference, copies: report.copies, checkpoint: inspection.checkpoint,
                                                initFacts: inspection.initFacts,
                                                initCredentialFetches: report.snapshot?.initCredentialFetches ?? 0,
                                                afterRestoreHooksAtInit: report.snapshot?.afterRestoreHooks ?? [])
        let failed = report.copies.flatMap { copy in
            copy.invocations.compactMap { r in
                r.error.map { "copy \(copy.copy): invocation failed with \($0.errorType): \($0.errorMessage)" }
            }
        }
        return CheckReport(findings: findings, copies: copies, lifecycle: report, checkpoint: inspection.checkpoint,
                           failedInvocations: failed)
    }

    /// Every rule's findings on what a run saw (the rules: Check/Rules, one a file).
    static func findings(reference: FunctionFacts, copies: [CopyReport], checkpoint: CheckpointFacts,
                         initFacts: FunctionFacts? = nil, initCredentialFetches: Int, afterRestoreHooksAtInit: [String]) -> [Finding] {
        let evidence = CheckEvidence(reference: reference, copies: copies, facts: copies.compactMap(\.facts),
                                     checkpoint: checkpoint, initFacts: initFacts,
                                     initCredentialFetches: initCredentialFetches,
                                     afterRestoreHooksAtInit: afterRestoreHooksAtInit)
        guard evidence.facts.count >= 2 else { return [] }
        return StaleStateCheck.rules.flatMap { $0.findings(evidence) }
    }

    /// The one value every copy reported, or nil when they differ (or one reported none).
    static func sameInEvery(_ values: [String?]) -> String? {
        guard let first = values.first ?? nil, values.allSatisfy({ $0 == first }) else { return nil }
        return first
    }
}
#endif
