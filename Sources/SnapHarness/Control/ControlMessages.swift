#if os(Linux)
import Foundation

/// Messages of the control protocol (docs/control-protocol.md), one JSON object per line.
public enum ControlProtocol {
    public static let version = 1
}

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
}

/// What the agent in the function process says.
struct AgentMessage: Decodable, Sendable {
    var type: String
    var `protocol`: Int?
    var phase: String?
    var pid: Int32?
    var error: LambdaError?
    var hint: String?
    var requestId: String?
    var payload: String?
    var maxMemoryMB: Int?
    var beforeSnapshotHooks: [String]?
    var afterRestoreHooks: [String]?
}

/// What the supervisor says. `event` is the event's JSON text, passed through untouched.
struct SupervisorMessage: Encodable, Sendable {
    var type: String
    var requestId: String? = nil
    var event: String? = nil
    var deadlineMs: Int64? = nil
    var invokedFunctionArn: String? = nil

    static let beforeSnapshot = SupervisorMessage(type: "before_snapshot")
    static let afterRestore = SupervisorMessage(type: "after_restore")
    static let shutdown = SupervisorMessage(type: "shutdown")
}
#endif
