@testable import SnapHarnessProtocol
@testable import SnapHarnessTools
@testable import SnapHarnessEngine
import Testing

/// `check`'s rules on facts as the inspector reports them (no processes): how a connection's client, a global
/// generator's severity and a value's staleness are decided. The stale-state suites run the same rules on real
/// restored copies.
@Suite struct CheckRulesTests {
    func facts(random: String? = nil, used: Bool = false, drawn: Bool = false, drawers: [String] = [],
               values: [ValueFact] = [], clients: [String] = [], connections: [HeldConnection] = []) -> FunctionFacts {
        FunctionFacts(randomState: random, randomUsed: used, numpyState: nil, numpyUsed: false, values: values,
                      cachedCredentials: [], environmentCredentials: [],
                      hooks: HookFacts(pendingBeforeSnapshot: [], afterRestore: [], unimported: []),
                      clients: clients, openssl: nil, sslUsed: false, randomDrawn: drawn, randomDrawers: drawers,
                      numpyDrawn: false, numpyDrawers: [], connections: connections)
    }

    func copies(_ facts: FunctionFacts...) -> [CopyReport] {
        facts.enumerated().map { CopyReport(copy: $0.offset + 1, status: "success", facts: $0.element) }
    }

    func run(reference: FunctionFacts, copies: [CopyReport], connections: [String] = [],
             initFacts: FunctionFacts? = nil) -> [Finding] {
        StaleStateCheck.findings(reference: reference, copies: copies,
                                 checkpoint: CheckpointFacts(tcpConnections: connections, tmpFiles: []),
                                 initFacts: initFacts, initCredentialFetches: 0, afterRestoreHooksAtInit: [])
    }

    /// The object holding the connection names its client, whatever the port: urllib3's pool reconnects (a risk),
    /// http.client's connection does not (a bug); without an owner the port and the loaded modules decide.
    @Test func aConnectionIsNamedByTheObjectHoldingIt() {
        let peer = "127.0.0.1:18080"
        for (owner, severity, name) in [("urllib3", Finding.Severity.risk, "urllib3's pool"),
                                        ("http.client", .bug, "http.client.HTTPConnection"),
                                        ("psycopg", .bug, "PostgreSQL (psycopg)")] {
            let reference = facts(clients: ["urllib3", "psycopg"], connections: [HeldConnection(client: owner, peer: peer)])
            let found = run(reference: reference, copies: copies(facts(), facts()), connections: ["10.0.0.2:40000 -> \(peer)"])
            #expect(found.count == 1 && found[0].category == "network" && found[0].severity == severity, "\(owner): \(found)")
            #expect(found.first?.evidence.first?.contains(name) == true, "\(owner): \(found)")
        }
        // No owner: urllib3 is only guessed on 80/443; elsewhere a lone driver, else a raw socket.
        #expect(StaleStateCheck.connectionClient("a:1 -> 127.0.0.1:443", loaded: ["urllib3"]) == .http)
        #expect(StaleStateCheck.connectionClient("a:1 -> 127.0.0.1:18080", loaded: ["urllib3"]) == .raw)
        #expect(StaleStateCheck.connectionClient("a:1 -> 127.0.0.1:6000", loaded: ["pymysql"]).name == "MySQL (pymysql)")
    }

    /// A global generator something drew from during Init is a bug, naming the library; only loaded, a risk.
    @Test func aGeneratorDrawnFromDuringInitIsABug() {
        let drawn = run(reference: facts(random: "ref", drawn: true, drawers: ["aws_lambda_powertools.logging.logger"]),
                        copies: copies(facts(random: "s"), facts(random: "s")))
        #expect(drawn.count == 1 && drawn[0].severity == .bug, "\(drawn)")
        #expect(drawn.first?.evidence.contains("drawn from during Init by a library: aws_lambda_powertools.logging.logger") == true)
        let loaded = run(reference: facts(random: "ref"), copies: copies(facts(random: "s"), facts(random: "s")))
        #expect(loaded.count == 1 && loaded[0].severity == .risk, "\(loaded)")
        let reseeded = run(reference: facts(random: "ref", drawn: true), copies: copies(facts(random: "a"), facts(random: "b")))
        #expect(reseeded.isEmpty, "copies with states of their own share nothing: \(reseeded)")
    }

    /// A value the copies share but the snapshot did not hold was made again in each copy: not frozen, not flagged.
    /// A generator's state moves on in step with the copies' draws, so it is flagged all the same.
    @Test func onlyValuesTheSnapshotHeldAreStale() {
        let clock = ValueFact(path: "m.jar._now", kind: "timestamp", digest: "copy", preview: "1795858316.000")
        let rng = ValueFact(path: "m.RNG", kind: "generator", digest: "copy", preview: "numpy.random.Generator")
        let reference = facts(values: [ValueFact(path: "m.jar._now", kind: "timestamp", digest: "ref", preview: ""),
                                       ValueFact(path: "m.RNG", kind: "generator", digest: "ref", preview: "")])
        let atInit = facts(values: [ValueFact(path: "m.jar._now", kind: "timestamp", digest: "init", preview: ""),
                                    ValueFact(path: "m.RNG", kind: "generator", digest: "init", preview: "")])
        let shared = copies(facts(values: [clock, rng]), facts(values: [clock, rng]))
        let found = run(reference: reference, copies: shared, initFacts: atInit)
        #expect(found.map(\.title) == ["m.RNG (numpy.random.Generator) has the same generator state in every restored copy"],
                "\(found)")
        let frozen = facts(values: [clock, rng])
        #expect(run(reference: reference, copies: shared, initFacts: frozen).count == 2, "held by the snapshot: both")
    }
}
