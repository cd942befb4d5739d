#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// Connections open at checkpoint time, each with what its client does next where that is known.
struct ConnectionAtCheckpoint: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let reference = input.reference
        let checkpoint = input.checkpoint
        let initFacts = input.initFacts
        var found: [Finding] = []
        if !checkpoint.tcpConnections.isEmpty {
            let clients = reference.clients ?? []
            // Who held what: the snapshotted process's own inspection when there was one, else the reference's.
            let held = initFacts?.connections ?? reference.connections ?? []
            let owners = checkpoint.tcpConnections.map { StaleStateCheck.connectionClient($0, loaded: clients, held: held) }
            let kinds = owners.reduce(into: [ConnectionClient]()) { if !$0.contains($1) { $0.append($1) } }
            found.append(Finding(
                category: "network", title: "TCP connections were open when the snapshot was taken",
                evidence: zip(checkpoint.tcpConnections, owners).map { "connection \($0) at checkpoint: \($1.name)" },
                why: "a restored environment gets the connection object but not the connection, and every copy holds "
                    + "the same dead socket. " + kinds.map(\.next).joined(separator: " "),
                fix: kinds.allSatisfy(\.reconnects)
                    ? "nothing is needed for correctness; to spare each copy's first request a new handshake, close "
                        + "the pool in a before-snapshot hook (or make the first client call in an after-restore hook)"
                    : "close it in a before-snapshot hook and reconnect in an after-restore hook (or connect lazily "
                        + "in the handler and reconnect on error)",
                severity: kinds.allSatisfy(\.reconnects) ? .risk : .bug))
        }
        return found
    }
}

/// Who holds a connection found at checkpoint time, and what it does with it after a restore.
struct ConnectionClient: Equatable {
    let name: String
    let next: String
    /// The client notices the dead connection and opens a new one by itself.
    let reconnects: Bool

    static let raw = ConnectionClient(name: "a raw socket or a client snapharness does not know",
                                      next: "A raw socket fails on its next use (BrokenPipeError / ECONNRESET).",
                                      reconnects: false)
    /// Database drivers, by module name (their default ports name them when several are loaded).
    static let drivers: [(module: String, port: Int, client: ConnectionClient)] = [
        ("psycopg", 5432, ConnectionClient(name: "PostgreSQL (psycopg)", next: "psycopg: the next query raises "
            + "psycopg.OperationalError (the connection is lost), and the Connection object never reconnects.",
            reconnects: false)),
        ("psycopg2", 5432, ConnectionClient(name: "PostgreSQL (psycopg2)", next: "psycopg2: the next query raises "
            + "psycopg2.OperationalError (server closed the connection unexpectedly), and the connection stays closed.",
            reconnects: false)),
        ("pymysql", 3306, ConnectionClient(name: "MySQL (pymysql)", next: "pymysql: the next query raises "
            + "pymysql.err.OperationalError (2013, Lost connection) unless the code calls ping(reconnect=True) first.",
            reconnects: false)),
    ]
    static let http = ConnectionClient(name: "HTTP(S) in urllib3's pool (requests, botocore)", next: "urllib3 (requests, "
        + "botocore) checks a pooled connection before reusing it and opens a new one: the copies work, each paying "
        + "a new handshake on its first request.", reconnects: true)
    static let httpClient = ConnectionClient(name: "HTTP in an http.client.HTTPConnection", next: "http.client: the next "
        + "request on the connection raises (BrokenPipeError, or RemoteDisconnected): HTTPConnection reconnects only "
        + "once it has been closed.", reconnects: false)

    /// The client named by the inspector's module name.
    static func byModule(_ module: String) -> ConnectionClient? {
        switch module {
        case "urllib3": return .http
        case "http.client": return .httpClient
        default: return drivers.first { $0.module == module }?.client
        }
    }
}

extension StaleStateCheck {
    /// "10.0.2.15:40000 -> 127.0.0.1:5432" -> its client: the object that holds a connection to that peer in the
    /// reference Init, else guessed from the client modules loaded (a driver by its default port, or the only one).
    static func connectionClient(_ connection: String, loaded: [String], held: [HeldConnection] = []) -> ConnectionClient {
        let peer = connection.components(separatedBy: " -> ").last ?? connection
        func port(_ address: String) -> Int { address.split(separator: ":").last.flatMap { Int($0) } ?? 0 }
        let owner = held.first { $0.peer == peer } ?? held.first { port($0.peer) == port(peer) }
        if let owner, let known = ConnectionClient.byModule(owner.client) { return known }
        let drivers = ConnectionClient.drivers.filter { loaded.contains($0.module) }
        if [80, 443].contains(port(peer)), loaded.contains("urllib3") { return .http }
        if let byPort = drivers.first(where: { $0.port == port(peer) }) { return byPort.client }
        if drivers.count == 1 { return drivers[0].client }
        return .raw
    }
}
#endif
