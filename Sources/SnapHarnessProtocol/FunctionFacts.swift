import Foundation

/// What the agent's inspector reports about a function process (see the agent's snapharness_agent/inspector.py).
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
