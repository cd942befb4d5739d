/// Lambda's own error types, as the Invoke API (`X-Amz-Function-Error`'s body), the runtime's error object and the
/// log's `Error Type:` name them. A function's own exception ("ValueError") is `.function(name)`: the type is the
/// wire's string, this enum only gives Lambda's names one spelling in the code.
public enum LambdaErrorType: Sendable, Hashable, CustomStringConvertible {
    case runtimeUnknown
    case runtimeExitError
    case runtimeOutOfMemory
    case runtimeInitTimeout
    case runtimeImportModuleError
    case runtimeBeforeSnapshotError
    case runtimeAfterRestoreError
    case sandboxTimedout
    case functionResponseSizeTooLarge
    /// The restore failed (RESTORE_REPORT's error type; the Invoke API's `SnapStartException`).
    case snapStartException
    case snapStartTimeoutException
    case function(String)

    private static let names: [LambdaErrorType: String] = [
        .runtimeUnknown: "Runtime.Unknown", .runtimeExitError: "Runtime.ExitError",
        .runtimeOutOfMemory: "Runtime.OutOfMemory", .runtimeInitTimeout: "Runtime.InitTimeout",
        .runtimeImportModuleError: "Runtime.ImportModuleError",
        .runtimeBeforeSnapshotError: "Runtime.BeforeSnapshotError",
        .runtimeAfterRestoreError: "Runtime.AfterRestoreError", .sandboxTimedout: "Sandbox.Timedout",
        .functionResponseSizeTooLarge: "Function.ResponseSizeTooLarge", .snapStartException: "SnapStartException",
        .snapStartTimeoutException: "SnapStartTimeoutException",
    ]
    private static let byName = Dictionary(uniqueKeysWithValues: names.map { ($1, $0) })

    public init(name: String) { self = LambdaErrorType.byName[name] ?? .function(name) }

    /// The type as Lambda spells it on the wire and in the log.
    public var name: String {
        if case .function(let name) = self { return name }
        return LambdaErrorType.names[self] ?? "Runtime.Unknown"
    }

    public var description: String { name }
}
