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
    /// The error underneath, kept typed so callers can still catch it: a `CriuError` with CRIU's log, a
    /// `SystemError` with its errno, a `StorageError`, ... (`message` is its text).
    public var cause: (any Error)?
    /// Lambda's error type for the failure, as INIT_REPORT / RESTORE_REPORT name it (`Runtime.InitTimeout`,
    /// `SnapStartTimeoutException`, ...), when the phase has one; the function's own error object is `lambdaError`.
    public var errorType: LambdaErrorType?

    public init(_ phase: LifecyclePhase, _ message: String, lambdaError: LambdaError? = nil, hint: String? = nil) {
        self.phase = phase
        self.message = message
        self.lambdaError = lambdaError
        self.hint = hint
    }

    /// A failure of `phase` whose reason is another error: its text becomes the message, the error the cause.
    public init(_ phase: LifecyclePhase, cause: any Error, hint: String? = nil) {
        self.init(phase, "\(cause)", hint: hint)
        self.cause = cause
    }

    /// The first error of type `E` down the chain of causes (a `CriuError` under a restore failure, ...).
    public func underlying<E: Error>(_ type: E.Type) -> E? {
        var next = cause
        while let error = next {
            if let found = error as? E { return found }
            next = (error as? LifecycleError)?.cause
        }
        return nil
    }

    public var description: String {
        var text = "\(phase.title) failed: \(message)"
        if let hint { text += "\nhint: \(hint)" }
        return text
    }
}
#endif
