#if os(Linux)
import Foundation
import SnapHarnessProtocol

/// The machine-readable account of a run (`--json`): phases with durations, the snapshot, and every copy's
/// invocations with their results or errors.
public struct LifecycleReport: Codable, Sendable {
    public var function: String?
    public var handler: String?
    public var phases: [PhaseReport] = []
    public var snapshot: SnapshotReport?
    public var copies: [CopyReport] = []
    public var failure: FailureReport?
    /// The Lambda extensions registered at Init (with their registration and ready times), when there were any.
    public var extensions: [AgentMessage.ExtensionSummary]?
    /// What an inspected snapshot saw of its function (`check`); kept out of `--json`, whose readers get it in
    /// their own form (check's report).
    public var inspection: SnapshotInspection?

    public init() {}

    /// Every field but `inspection` (ReportEncodingTests holds it to that): a field added above belongs here too.
    private enum CodingKeys: String, CodingKey { case function, handler, phases, snapshot, copies, failure, extensions }
}

public struct PhaseReport: Codable, Sendable {
    public var phase: String
    public var durationMs: Double
    public var status: String
    public var copy: Int?
}

public struct SnapshotReport: Codable, Sendable {
    public var path: String?
    public var imageBytes: UInt64
    public var checkpointMs: Double
    public var beforeSnapshotHooks: [String]
    public var afterRestoreHooks: [String]
    /// How often the function fetched container credentials during Init (they are frozen into the snapshot).
    public var initCredentialFetches: Int?
}

public struct CopyReport: Codable, Sendable {
    public var copy: Int
    public var pid: Int32?
    /// Making the environment's network namespace before the restore (not part of the Restore Duration).
    public var networkMs: Double?
    /// Showing the snapshot's /tmp disk to this copy (loop device, mounts) before the restore (not part of it either).
    public var tmpDiskMs: Double?
    public var restoreMs: Double?
    /// Runtime load + after-restore hooks: Lambda's Billed Restore Duration (CRIU's part is not billed).
    public var billedRestoreMs: Double?
    /// Lazy restores: when the last page of the copy's memory was in, from the start of the restore.
    public var allPagesMs: Double?
    public var status: String
    public var error: LambdaError?
    public var message: String?
    public var invocations: [InvocationReport] = []
    /// Only with `check`: what the inspector saw in this copy after its invocations.
    public var facts: FunctionFacts?
    /// How often this copy fetched its own (rotated) container credentials.
    public var credentialFetches: Int?
}

/// How an invocation ended: the handler returned (`success`) or raised (`error`, the environment lives on), or the
/// environment ended with it (`timeout`, `crashed`: Lambda resets it).
public enum InvocationStatus: String, Codable, Sendable {
    case success, error, timeout, crashed
}

public struct InvocationReport: Codable, Sendable {
    public var requestId: String
    public var durationMs: Double
    public var billedDurationMs: Int
    public var maxMemoryUsedMB: Int?
    public var status: InvocationStatus
    /// The handler's result exactly as the runtime encoded it.
    public var result: RawJSON?
    public var error: LambdaError?
}

public struct FailureReport: Codable, Sendable {
    public var phase: LifecyclePhase
    public var exitCode: Int32
    public var message: String
    public var error: LambdaError?
    public var hint: String?

    public init(_ error: LifecycleError) {
        phase = error.phase
        exitCode = error.phase.exitCode
        message = error.message
        self.error = error.lambdaError
        hint = error.hint
    }
}

extension LifecycleReport {
    public var jsonText: String { JSONValue.prettyText(self) }
}
#endif
