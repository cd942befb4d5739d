#if os(Linux)
import SnapHarnessProtocol
/// The phase of the SnapStart lifecycle a failure belongs to; each has its own exit code so scripts can tell them
/// apart (documented in the README).
public enum LifecyclePhase: String, Codable, Sendable {
    case input, `init`, beforeSnapshot = "before-snapshot", checkpoint, restore, afterRestore = "after-restore", invoke

    public var exitCode: Int32 {
        switch self {
        case .input: return 1
        case .`init`: return 3
        case .beforeSnapshot: return 4
        case .checkpoint: return 5
        case .restore: return 6
        case .afterRestore: return 7
        case .invoke: return 8
        }
    }

    var title: String {
        switch self {
        case .input: return "input"
        case .`init`: return "Init"
        case .beforeSnapshot: return "before-snapshot hooks"
        case .checkpoint: return "checkpoint"
        case .restore: return "restore"
        case .afterRestore: return "after-restore hooks"
        case .invoke: return "invocation"
        }
    }
}

/// A lifecycle failure: which phase, what went wrong, the Lambda error object when the function produced one,
/// and what to do about it.
public struct LifecycleError: Error, CustomStringConvertible, Sendable {
    public var phase: LifecyclePhase
    public var message: String
    public var lambdaError: LambdaError?
    public var hint: String?

    public init(_ phase: LifecyclePhase, _ message: String, lambdaError: LambdaError? = nil, hint: String? = nil) {
        self.phase = phase
        self.message = message
        self.lambdaError = lambdaError
        self.hint = hint
    }

    public var description: String {
        var text = "\(phase.title) failed: \(message)"
        if let hint { text += "\nhint: \(hint)" }
        return text
    }
}
#endif
