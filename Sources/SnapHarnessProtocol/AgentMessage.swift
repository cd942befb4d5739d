import Foundation

/// What the agent in the function process says: one case per message of docs/control-protocol.md, decoded once
/// by the channel, so callers switch over cases instead of comparing `type` strings.
public enum AgentMessage: Decodable, Sendable {
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

    public struct Hello: Decodable, Sendable {
        public var `protocol`: Int?
        public var phase: Phase?
        public var pid: Int32?

        /// Where the runtime says hello from: the start of Init, or a restored copy's wake-up.
        public enum Phase: String, Decodable, Sendable { case `init`, restore }
    }

    public struct InitDone: Decodable, Sendable {
        public var beforeSnapshotHooks: [String] = []
        public var afterRestoreHooks: [String] = []
        /// A Runtime API runtime's request that ended Init: "restore" (restore/next) or "next" (invocation/next).
        public var parkedIn: String?
        /// The Lambda extensions that registered during Init (none without /opt/extensions or internal ones).
        public var extensions: [ExtensionSummary] = []

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            beforeSnapshotHooks = try c.decodeIfPresent([String].self, forKey: .beforeSnapshotHooks) ?? []
            afterRestoreHooks = try c.decodeIfPresent([String].self, forKey: .afterRestoreHooks) ?? []
            parkedIn = try c.decodeIfPresent(String.self, forKey: .parkedIn)
            extensions = try c.decodeIfPresent([ExtensionSummary].self, forKey: .extensions) ?? []
        }

        enum CodingKeys: String, CodingKey { case beforeSnapshotHooks, afterRestoreHooks, parkedIn, extensions }
    }

    /// One Lambda extension at the end of Init, as the environment's Extensions API saw it (times from Init's start).
    public struct ExtensionSummary: Codable, Sendable, Equatable {
        public var name: String
        /// Lambda's extension state ("Ready" once it waits for events).
        public var state: String
        /// What it registered for: INVOKE, SHUTDOWN.
        public var events: [String]
        /// An executable in /opt/extensions (its own process), not one registered from inside the runtime.
        public var external: Bool
        public var registeredMs: Double
        /// Its first event/next: the end of its Init.
        public var readyMs: Double?
        /// The Telemetry API types it subscribed to (platform, function, extension), if it did.
        public var telemetry: [String]?
    }

    /// A failed phase: the Lambda error object the runtime built (a placeholder if it sent none) and a hint.
    public struct Failure: Decodable, Sendable {
        public var error: LambdaError
        public var hint: String?

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            error = try c.decodeIfPresent(LambdaError.self, forKey: .error)
                ?? LambdaError(errorMessage: "the runtime gave no error object", type: .runtimeUnknown)
            hint = try c.decodeIfPresent(String.self, forKey: .hint)
        }

        enum CodingKeys: String, CodingKey { case error, hint }
    }

    /// The handler's result as the runtime encoded it: text, or base64 of raw bytes (a bytes result).
    public struct Result: Decodable, Sendable {
        public var requestId: String?
        public var payload: String?
        public var payloadBase64: String?
        public var maxMemoryMB: Int?

        public var text: String {
            payload ?? payloadBase64.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }

        public var byteCount: Int { payload?.utf8.count ?? payloadBase64.flatMap { Data(base64Encoded: $0)?.count } ?? 0 }
    }

    public struct InvocationError: Decodable, Sendable {
        public var requestId: String?
        public var error: LambdaError
        public var maxMemoryMB: Int?
    }

    /// The message's name on the wire, for messages about unexpected ones.
    public var type: String {
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

    public init(from decoder: Decoder) throws {
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
    public static func decode(_ line: some Collection<UInt8>) throws -> AgentMessage {
        try JSONDecoder().decode(AgentMessage.self, from: Data(line))
    }
}
