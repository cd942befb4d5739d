import Foundation

/// Lambda's error object, as awslambdaric builds it.
public struct LambdaError: Codable, Sendable, Equatable {
    public var errorMessage: String
    public var errorType: String
    public var requestId: String?
    public var stackTrace: [String]?

    public init(errorMessage: String, errorType: String, requestId: String? = nil, stackTrace: [String]? = nil) {
        self.errorMessage = errorMessage
        self.errorType = errorType
        self.requestId = requestId
        self.stackTrace = stackTrace
    }

    public init(errorMessage: String, type: LambdaErrorType, requestId: String? = nil, stackTrace: [String]? = nil) {
        self.init(errorMessage: errorMessage, errorType: type.name, requestId: requestId, stackTrace: stackTrace)
    }

    public var type: LambdaErrorType { LambdaErrorType(name: errorType) }

    /// A hook's exception as the runtime reports the phase's failure (awslambdaric's `Runtime.BeforeSnapshotError`,
    /// `Runtime.AfterRestoreError`): the hook's type and message become the message, its stack trace is kept.
    public func wrapped(as type: LambdaErrorType) -> LambdaError {
        LambdaError(errorMessage: "\(errorType): \(errorMessage)", type: type, stackTrace: stackTrace)
    }
}
