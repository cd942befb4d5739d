#if os(Linux)
import SnapHarnessEngine
import SnapHarnessProtocol

/// One kind of state SnapStart freezes into a snapshot, found by comparing what the copies and an independent Init
/// reported (one rule a file in this folder; `StaleStateCheck.rules` lists them in the order findings are shown).
protocol CheckRule: Sendable {
    func findings(_ evidence: CheckEvidence) -> [Finding]
}

/// What a check run saw: the copies' facts beside an independent Init's, and the snapshotted process at checkpoint.
struct CheckEvidence {
    /// An independent, never-snapshotted Init of the same handler.
    let reference: FunctionFacts
    let copies: [CopyReport]
    /// The copies' inspector facts (at least two).
    let facts: [FunctionFacts]
    let checkpoint: CheckpointFacts
    /// The snapshotted process's own facts at the end of Init, when it was inspected.
    let initFacts: FunctionFacts?
    let initCredentialFetches: Int
    let afterRestoreHooksAtInit: [String]
}

extension StaleStateCheck {
    static let rules: [any CheckRule] = [
        SharedGlobalGenerator(), SharedOpenSSLGenerator(), FrozenValue(), ConnectionAtCheckpoint(), TmpWrittenAtInit(),
        CredentialsInEnvironment(), CredentialsCachedAtInit(), HookModuleNotImported(), HookRegisteredLate(),
    ]
}
#endif
