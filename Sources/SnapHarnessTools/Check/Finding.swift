#if os(Linux)
import SnapHarnessEngine
/// One stale-state problem `check` found: what, the evidence from this run, why it breaks on Lambda, and the fix
/// in snapshot_restore_py terms.
public struct Finding: Codable, Sendable, Equatable {
    /// The class from the SnapStart catalogue: uniqueness, entropy, network, credentials, time, disk, hooks.
    public var category: String
    public var title: String
    public var evidence: [String]
    public var why: String
    public var fix: String
    /// `bug`: state the copies share and the function uses; `risk`: state that would repeat once used (reported,
    /// but `check` fails on it only with --strict).
    public var severity: Severity = .bug

    public enum Severity: String, Codable, Sendable { case bug, risk }

    public init(category: String, title: String, evidence: [String], why: String, fix: String, severity: Severity = .bug) {
        self.category = category
        self.title = title
        self.evidence = evidence
        self.why = why
        self.fix = fix
        self.severity = severity
    }

    public var text: String {
        var lines = ["[\(category)\(severity == .risk ? ", risk" : "")] \(title)"]
        lines += evidence.map { "    evidence: \($0)" }
        lines.append("    why: \(why)")
        lines.append("    fix: \(fix)")
        return lines.joined(separator: "\n")
    }
}

/// The result of `snapharness check`.
public struct CheckReport: Codable, Sendable {
    public var findings: [Finding]
    public var bugs: Int { findings.filter { $0.severity == .bug }.count }
    public var copies: Int
    public var lifecycle: LifecycleReport
    public var checkpoint: CheckpointFacts
    /// Handler errors in the restored copies (often the symptom of a finding, e.g. a dead connection).
    public var failedInvocations: [String]
}
#endif
