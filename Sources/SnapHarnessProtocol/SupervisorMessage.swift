import Foundation

/// What the supervisor says: one case per message.
public enum SupervisorMessage: Encodable, Sendable {
    /// Run the before-snapshot hooks (reverse registration order).
    case beforeSnapshot
    /// Set the variables Lambda changes in a restored environment (rotated credentials), then run the
    /// after-restore hooks.
    case afterRestore(environment: [String: String]?)
    case invoke(Invocation)
    case inspect
    case shutdown

    /// One invocation. `event` is the event's JSON text, passed through untouched.
    public struct Invocation: Encodable, Sendable {
        public var requestId: String
        public var event: String
        public var deadlineMs: Int64
        public var invokedFunctionArn: String
        /// X-Ray's trace header for the invocation (the runtime sets `_X_AMZN_TRACE_ID` from it).
        public var traceId: String?
        /// The caller's client context as JSON text (the Invoke API's `X-Amz-Client-Context`, base64-decoded), which
        /// the runtime gets as `Lambda-Runtime-Client-Context` and the handler as `context.client_context`.
        public var clientContext: String?

        public init(requestId: String, event: String, deadlineMs: Int64, invokedFunctionArn: String,
                    traceId: String? = nil, clientContext: String? = nil) {
            self.requestId = requestId
            self.event = event
            self.deadlineMs = deadlineMs
            self.invokedFunctionArn = invokedFunctionArn
            self.traceId = traceId
            self.clientContext = clientContext
        }
    }

    private enum CodingKeys: String, CodingKey { case type, environment }

    public func encode(to encoder: Encoder) throws {
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
    public var line: [UInt8] {
        var data = Array((try? SupervisorMessage.encoder.encode(self)) ?? Data())
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
