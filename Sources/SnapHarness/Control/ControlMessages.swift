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

    /// A hook's exception as the runtime reports the phase's failure (awslambdaric's `Runtime.BeforeSnapshotError`,
    /// `Runtime.AfterRestoreError`): the hook's type and message become the message, its stack trace is kept.
    func wrapped(as errorType: String) -> LambdaError {
        LambdaError(errorMessage: "\(self.errorType): \(errorMessage)", errorType: errorType, stackTrace: stackTrace)
    }
}

/// What the agent in the function process says: one case per message of docs/control-protocol.md, decoded once
/// by the channel, so callers switch over cases instead of comparing `type` strings.
enum AgentMessage: Decodable, Sendable {
    case hello(Hello)
    case initDone(InitDone)
    case initError(Failure)
    case snapshotReady
    case beforeSnapshotError(Failure)
    case restored
    case afterRestoreError(Failure)
    case result(Result)
    case error(InvocationError)
    case facts(FunctionFacts)

    struct Hello: Decodable, Sendable {
        var `protocol`: Int?
        var phase: String?
        var pid: Int32?
    }

    struct InitDone: Decodable, Sendable {
        var beforeSnapshotHooks: [String] = []
        var afterRestoreHooks: [String] = []
        /// A Runtime API runtime's request that ended Init: "restore" (restore/next) or "next" (invocation/next).
        var parkedIn: String?

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            beforeSnapshotHooks = try c.decodeIfPresent([String].self, forKey: .beforeSnapshotHooks) ?? []
            afterRestoreHooks = try c.decodeIfPresent([String].self, forKey: .afterRestoreHooks) ?? []
            parkedIn = try c.decodeIfPresent(String.self, forKey: .parkedIn)
        }

        enum CodingKeys: String, CodingKey { case beforeSnapshotHooks, afterRestoreHooks, parkedIn }
    }

    /// A failed phase: the Lambda error object the runtime built (a placeholder if it sent none) and a hint.
    struct Failure: Decodable, Sendable {
        var error: LambdaError
        var hint: String?

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            error = try c.decodeIfPresent(LambdaError.self, forKey: .error)
                ?? LambdaError(errorMessage: "the runtime gave no error object", errorType: "Runtime.Unknown")
            hint = try c.decodeIfPresent(String.self, forKey: .hint)
        }

        enum CodingKeys: String, CodingKey { case error, hint }
    }

    /// The handler's result as the runtime encoded it: text, or base64 of raw bytes (a bytes result).
    struct Result: Decodable, Sendable {
        var requestId: String?
        var payload: String?
        var payloadBase64: String?
        var maxMemoryMB: Int?

        var text: String {
            payload ?? payloadBase64.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }

        var byteCount: Int { payload?.utf8.count ?? payloadBase64.flatMap { Data(base64Encoded: $0)?.count } ?? 0 }
    }

    struct InvocationError: Decodable, Sendable {
        var requestId: String?
        var error: LambdaError
        var maxMemoryMB: Int?
    }

    /// The message's name on the wire, for messages about unexpected ones.
    var type: String {
        switch self {
        case .hello: return "hello"
        case .initDone: return "init_done"
        case .initError: return "init_error"
        case .snapshotReady: return "snapshot_ready"
        case .beforeSnapshotError: return "before_snapshot_error"
        case .restored: return "restored"
        case .afterRestoreError: return "after_restore_error"
        case .result: return "result"
        case .error: return "error"
        case .facts: return "facts"
        }
    }

    private enum TypeKey: String, CodingKey { case type }

    init(from decoder: Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try Hello(from: decoder))
        case "init_done": self = .initDone(try InitDone(from: decoder))
        case "init_error": self = .initError(try Failure(from: decoder))
        case "snapshot_ready": self = .snapshotReady
        case "before_snapshot_error": self = .beforeSnapshotError(try Failure(from: decoder))
        case "restored": self = .restored
        case "after_restore_error": self = .afterRestoreError(try Failure(from: decoder))
        case "result": self = .result(try Result(from: decoder))
        case "error": self = .error(try InvocationError(from: decoder))
        case "facts": self = .facts(try FactsWire(from: decoder).facts)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: [TypeKey.type], debugDescription: "unknown message type \(type)"))
        }
    }

    /// `facts` as sent: every field may be missing (an older inspector, a module without hooks).
    private struct FactsWire: Decodable {
        var randomState: String?
        var randomUsed: Bool?
        var randomDrawn: Bool?
        var randomDrawers: [String]?
        var numpyState: String?
        var numpyUsed: Bool?
        var numpyDrawn: Bool?
        var numpyDrawers: [String]?
        var values: [ValueFact]?
        var cachedCredentials: [String]?
        var environmentCredentials: [String]?
        var hooks: HookFacts?
        var clients: [String]?
        var openssl: [String: String]?
        var sslUsed: Bool?
        var connections: [HeldConnection]?

        var facts: FunctionFacts {
            FunctionFacts(randomState: randomState, randomUsed: randomUsed ?? true, numpyState: numpyState,
                          numpyUsed: numpyUsed ?? true, values: values ?? [],
                          cachedCredentials: cachedCredentials ?? [], environmentCredentials: environmentCredentials ?? [],
                          hooks: hooks ?? HookFacts(pendingBeforeSnapshot: [], afterRestore: [], unimported: []),
                          clients: clients, openssl: openssl, sslUsed: sslUsed, randomDrawn: randomDrawn,
                          randomDrawers: randomDrawers, numpyDrawn: numpyDrawn, numpyDrawers: numpyDrawers,
                          connections: connections)
        }
    }

    /// One message from a line of the channel (the benchmark's bare driver decodes with this too).
    static func decode(_ line: some Collection<UInt8>) throws -> AgentMessage {
        try JSONDecoder().decode(AgentMessage.self, from: Data(line))
    }
}

/// What the agent's inspector reports about a function process (see snapharness_inspect.py).
public struct FunctionFacts: Codable, Sendable {
    public var randomState: String?
    /// Whether the function's own modules draw from the global generator (older inspectors: assumed).
    public var randomUsed: Bool = true
    public var numpyState: String?
    public var numpyUsed: Bool = true
    public var values: [ValueFact]
    public var cachedCredentials: [String]
    public var environmentCredentials: [String]
    public var hooks: HookFacts
    /// Loaded client libraries whose behaviour with a dead connection is known (psycopg, pymysql, urllib3, ...).
    public var clients: [String]?
    /// A digest of one draw from each OpenSSL generator loaded ("ssl", "cryptography"): equal in every copy means
    /// the copies share the generator's state.
    public var openssl: [String: String]?
    /// Whether the function's own modules use Python's `ssl` module (not only a library on their behalf).
    public var sslUsed: Bool?
    /// Whether anything drew from the global generator since it was seeded (at the reference: during Init), and
    /// the libraries whose code draws from it.
    public var randomDrawn: Bool?
    public var randomDrawers: [String]?
    public var numpyDrawn: Bool?
    public var numpyDrawers: [String]?
    /// Connections held by known clients' objects, by peer: what names a connection's client at the checkpoint.
    public var connections: [HeldConnection]?
}

/// A TCP connection a known client's object holds ("psycopg", "urllib3", "http.client", ...).
public struct HeldConnection: Codable, Sendable, Equatable {
    public var client: String
    public var peer: String
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

/// What the supervisor says: one case per message.
enum SupervisorMessage: Encodable, Sendable {
    /// Run the before-snapshot hooks (reverse registration order).
    case beforeSnapshot
    /// Set the variables Lambda changes in a restored environment (rotated credentials), then run the
    /// after-restore hooks.
    case afterRestore(environment: [String: String]?)
    case invoke(Invocation)
    case inspect
    case shutdown

    /// One invocation. `event` is the event's JSON text, passed through untouched.
    struct Invocation: Encodable, Sendable {
        var requestId: String
        var event: String
        var deadlineMs: Int64
        var invokedFunctionArn: String
        /// X-Ray's trace header for the invocation (the runtime sets `_X_AMZN_TRACE_ID` from it).
        var traceId: String?
        /// The caller's client context as JSON text (the Invoke API's `X-Amz-Client-Context`, base64-decoded), which
        /// the runtime gets as `Lambda-Runtime-Client-Context` and the handler as `context.client_context`.
        var clientContext: String?
    }

    private enum CodingKeys: String, CodingKey { case type, environment }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .beforeSnapshot: try c.encode("before_snapshot", forKey: .type)
        case .afterRestore(let environment):
            try c.encode("after_restore", forKey: .type)
            try c.encodeIfPresent(environment, forKey: .environment)
        case .invoke(let invocation):
            try c.encode("invoke", forKey: .type)
            try invocation.encode(to: encoder)
        case .inspect: try c.encode("inspect", forKey: .type)
        case .shutdown: try c.encode("shutdown", forKey: .type)
        }
    }

    private static let encoder = JSONEncoder()

    /// The message as one line of the channel (the benchmark's bare driver sends these too).
    var line: [UInt8] {
        var data = Array((try? SupervisorMessage.encoder.encode(self)) ?? Data())
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
#endif
