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
    /// The result as the runtime encoded it; `payloadBase64` instead when it is not text (a bytes result).
    var payload: String?
    var payloadBase64: String?
    var maxMemoryMB: Int?
    var beforeSnapshotHooks: [String]?
    var afterRestoreHooks: [String]?
    // `facts` (answer to `inspect`)
    var randomState: String?
    var numpyState: String?
    var values: [ValueFact]?
    var cachedCredentials: [String]?
    var environmentCredentials: [String]?
    var hooks: HookFacts?

    var facts: FunctionFacts {
        FunctionFacts(randomState: randomState, numpyState: numpyState, values: values ?? [],
                      cachedCredentials: cachedCredentials ?? [], environmentCredentials: environmentCredentials ?? [],
                      hooks: hooks ?? HookFacts(pendingBeforeSnapshot: [], afterRestore: [], unimported: []))
    }
}

/// What the agent's inspector reports about a function process (see snapharness_inspect.py).
public struct FunctionFacts: Codable, Sendable {
    public var randomState: String?
    public var numpyState: String?
    public var values: [ValueFact]
    public var cachedCredentials: [String]
    public var environmentCredentials: [String]
    public var hooks: HookFacts
}

/// A module-level value that may have been produced at Init (uuid, token, bytes, big number, timestamp).
public struct ValueFact: Codable, Sendable, Equatable {
    public var path: String
    public var kind: String
    public var digest: String
    public var preview: String
}

public struct HookFacts: Codable, Sendable {
    public var pendingBeforeSnapshot: [String]
    public var afterRestore: [String]
    public var unimported: [UnimportedHookModule]
}

public struct UnimportedHookModule: Codable, Sendable {
    public var module: String
    public var file: String
}

/// What the supervisor says. `event` is the event's JSON text, passed through untouched.
struct SupervisorMessage: Encodable, Sendable {
    var type: String
    var requestId: String? = nil
    var event: String? = nil
    var deadlineMs: Int64? = nil
    var invokedFunctionArn: String? = nil
    /// X-Ray's trace header for the invocation (the runtime sets `_X_AMZN_TRACE_ID` from it).
    var traceId: String? = nil
    /// With `after_restore`: variables Lambda changes in a restored environment (rotated credentials).
    var environment: [String: String]? = nil

    static let beforeSnapshot = SupervisorMessage(type: "before_snapshot")
    static let afterRestore = SupervisorMessage(type: "after_restore")
    static let shutdown = SupervisorMessage(type: "shutdown")
    static let inspect = SupervisorMessage(type: "inspect")
}
#endif
