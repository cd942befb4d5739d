#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// `snapharness check`: runs the lifecycle with several restored copies and finds the state that SnapStart freezes
/// into the snapshot. Values are judged by comparison, not by guessing: a value identical in every restored copy
/// but different in an independent, never-snapshotted Init of the same handler was made at Init by something random
/// (or by the clock) and is now shared by every copy. Constants are equal everywhere and never flagged.
public struct StaleStateCheck: Sendable {
    public let lifecycle: Lifecycle

    public init(lifecycle: Lifecycle) { self.lifecycle = lifecycle }

    public func run(_ config: FunctionConfig, copies: Int, invocations: Int = 1, event: String = "{}",
                    restoreDelay: Double = 0, lazyPages: Bool = false) throws -> CheckReport {
        precondition(copies >= 2, "comparing copies needs at least two")
        guard config.runtimeClient != .bootstrap else {
            throw HarnessError.input("check inspects a Python function's state; a custom runtime's (provided.al2023) "
                                     + "cannot be inspected. Use `run --restores 2` to compare copies by their output")
        }
        if let image = config.image, !image.isAWSPythonBaseImage {
            throw HarnessError.input("check inspects a Python function's state through AWS's Python runtime; \(image.reference) "
                                     + "is not one of AWS's Python base images. Use `run --image ... --restores 2` to compare "
                                     + "copies by their output")
        }
        var config = config
        config.loadInspector = true
        let reference = try lifecycle.referenceFacts(config)
        var report = LifecycleReport()
        let box = CheckpointBox()
        do {
            try lifecycle.run(config, Lifecycle.RestoreOptions(copies: copies, invocations: invocations, event: event,
                                                               inspect: true, lazyPages: lazyPages),
                              restoreDelay: restoreDelay, report: &report, beforeCheckpoint: { process in
                box.facts.tcpConnections = ProcessInventory.establishedTCP(pid: process.pid)
                box.facts.tmpFiles = ProcessInventory.tmpFiles(pid: process.pid)
                // Copies restore in a later wall-clock second than Init's facts were read (on Lambda, minutes
                // later): a clock reading in whole seconds that each copy takes again then differs from Init's.
                // Only a function holding a clock reading pays for it.
                let wait = (box.initFactsAt.rounded(.down) + 1) - Date().timeIntervalSince1970
                if box.initFacts?.values.contains(where: { $0.kind == "timestamp" }) == true, wait > 0 {
                    usleep(UInt32(wait * 1_000_000))
                }
            }, initFacts: { box.initFacts = $0; box.initFactsAt = Date().timeIntervalSince1970 })
        } catch let error as LifecycleError where error.phase == .invoke {
            // A failing handler is often the symptom itself (a dead connection): keep going and report it.
        }
        let findings = StaleStateCheck.findings(reference: reference, copies: report.copies, checkpoint: box.facts,
                                                initFacts: box.initFacts,
                                                initCredentialFetches: report.snapshot?.initCredentialFetches ?? 0,
                                                afterRestoreHooksAtInit: report.snapshot?.afterRestoreHooks ?? [])
        let failed = report.copies.flatMap { copy in
            copy.invocations.compactMap { r in
                r.error.map { "copy \(copy.copy): invocation failed with \($0.errorType): \($0.errorMessage)" }
            }
        }
        return CheckReport(findings: findings, copies: copies, lifecycle: report, checkpoint: box.facts,
                           failedInvocations: failed)
    }

    final class CheckpointBox: @unchecked Sendable {
        var facts = CheckpointFacts()
        var initFacts: FunctionFacts?
        var initFactsAt: Double = 0
    }

    // MARK: - Rules

    static func findings(reference: FunctionFacts, copies: [CopyReport], checkpoint: CheckpointFacts,
                         initFacts: FunctionFacts? = nil, initCredentialFetches: Int, afterRestoreHooksAtInit: [String]) -> [Finding] {
        let facts = copies.compactMap(\.facts)
        guard facts.count >= 2 else { return [] }
        var found: [Finding] = []

        // 1. PRNG state shared by every copy: a bug when the function draws from the generator, a risk otherwise
        // (a library loaded it; it repeats the moment the handler draws from it).
        for (name, state, refState, used, drawn, drawers, fix) in [
            ("Python's `random` module", facts.map(\.randomState), reference.randomState, facts.contains(where: \.randomUsed),
             reference.randomDrawn == true, reference.randomDrawers ?? [],
             "reseed in an after-restore hook: `@register_after_restore` def reseed(): random.seed(os.urandom(32))"),
            ("numpy's global random generator", facts.map(\.numpyState), reference.numpyState, facts.contains(where: \.numpyUsed),
             reference.numpyDrawn == true, reference.numpyDrawers ?? [],
             "reseed in an after-restore hook: numpy.random.seed(int.from_bytes(os.urandom(4), 'little')), or create "
             + "generators after restore with numpy.random.default_rng()"),
        ] {
            guard let first = StaleStateCheck.sameInEvery(state), refState != first else { continue }
            // Drawn from during Init (by the function or a library on its behalf): what it drew decided something,
            // and every copy goes on from the same point. Only loaded: nothing repeats until something draws.
            let bug = used || drawn
            var evidence = ["state digest \(first) in every copy; an independent Init had \(refState ?? "none")"]
            if drawn && !used {
                evidence.append(drawers.isEmpty ? "something drew from it during Init (not the function's own modules)"
                                : "drawn from during Init by a library: \(drawers.joined(separator: ", "))")
            } else if !used {
                evidence.append("the function's own modules never draw from it (a library loaded it)")
            }
            found.append(Finding(
                category: "uniqueness", title: "\(name) has the same state in all \(facts.count) restored copies",
                evidence: evidence,
                why: "the generator was seeded once, during Init, and its state is part of the snapshot: every "
                    + "environment restored from it draws the same \"random\" numbers (CPython reseeds after fork(), "
                    + "but nothing reseeds after a restore)"
                    + (bug ? (used ? "" : ". A library drew from it during Init, so whatever it decides with it "
                              + "(sampling, jitter, ids) goes the same way in every copy")
                       : ". Nothing draws from it yet, so nothing repeats today: it is a risk, a bug the "
                       + "moment the handler (or a library on its behalf) draws a number"),
                fix: fix, severity: bug ? .bug : .risk))
        }

        // 1b. OpenSSL's generators: the copies drew the same bytes from one (its state is Init's).
        for generator in StaleStateCheck.opensslGenerators {
            guard let first = StaleStateCheck.sameInEvery(facts.map { $0.openssl?[generator.key] }) else { continue }
            let direct = facts.contains(where: generator.usedByFunction)
            found.append(Finding(
                category: "entropy", title: "\(generator.name) has the same state in all \(facts.count) restored copies",
                evidence: ["each copy drew the same bytes from it (digest \(first))"]
                    + (direct ? [] : ["the function's own modules do not use `ssl`: a library made a TLS context or "
                                      + "connection during Init (urllib, botocore)"]),
                why: "OpenSSL keeps its own generators (DRBGs) in the process's memory. They were seeded when Init "
                    + "first used them and are part of the snapshot. OpenSSL reseeds on a new process id (a fork), which "
                    + "a restored copy does not get; its per-thread generators reseed after 7 minutes of wall clock, "
                    + "but from the copied primary one, which fetches fresh entropy only hourly (or after 256 reseeds). "
                    + "So keys, nonces and TLS randoms repeat in every copy, for up to an hour"
                    + (direct ? "" : ". Here the system's OpenSSL repeats; Lambda's managed runtime ships its own "
                       + "OpenSSL build, so this is a risk: a bug if that build does not reseed after a restore either"),
                fix: generator.fix, severity: direct ? .bug : .risk))
        }

        // 2. Values made at Init that every copy shares.
        let credentialPaths = Set(facts.flatMap(\.cachedCredentials))
        let refValues = Dictionary(reference.values.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let perCopy = facts.map { Dictionary($0.values.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }) }
        let atSnapshot = initFacts.map { Dictionary($0.values.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }) }
        for value in facts[0].values {
            if credentialPaths.contains(where: { value.path.hasPrefix($0) }) { continue }
            let all = perCopy.compactMap { $0[value.path] }
            guard all.count == facts.count, all.allSatisfy({ $0.digest == value.digest }),
                  let ref = refValues[value.path], ref.digest != value.digest else { continue }
            // Frozen means the copies still hold what Init left: a value every copy made again (a library's clock
            // reading, refreshed per request, landing in the same second in copies restored together) is not. A
            // generator is the exception: the copies' draws move its state on, in step.
            if value.kind != "generator", let atSnapshot, atSnapshot[value.path]?.digest != value.digest { continue }
            // An item of a list or tuple that the reference holds at another index moved, it was not made: a
            // container built from a set or dict is ordered by the hash seed, which differs between processes.
            if let container = StaleStateCheck.containerPath(value.path),
               reference.values.contains(where: { $0.digest == value.digest && StaleStateCheck.containerPath($0.path) == container }) {
                continue
            }
            found.append(StaleStateCheck.valueFinding(value, copies: facts.count))
        }

        // 3. Connections open at checkpoint time, each with what its client does next where that is known.
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

        // 4. /tmp written during Init (minus markers known to be harmless in every copy).
        let tmpFiles = checkpoint.tmpFiles.filter { entry in
            !StaleStateCheck.harmlessTmpMarkers.contains { entry.hasPrefix($0 + " ") }
        }
        if !tmpFiles.isEmpty {
            found.append(Finding(
                category: "disk", title: "files written to /tmp during Init are copied into every restored environment",
                evidence: tmpFiles.map { "\($0) at checkpoint" },
                why: "/tmp is part of the snapshot: each copy starts with the same files (lock files, caches keyed to "
                    + "one environment, temporary credentials), and none sees what another writes later",
                fix: "create per-environment files in the handler or an after-restore hook, and delete Init-time "
                    + "scratch files in a before-snapshot hook"))
        }

        // 5. Credentials.
        let envCreds = Set(facts.flatMap(\.environmentCredentials))
        if !envCreds.isEmpty {
            found.append(Finding(
                category: "credentials", title: "AWS credentials come from environment variables frozen into the snapshot",
                evidence: envCreds.sorted().map { "\($0) is set in every copy" },
                why: "the snapshot holds them: every restored copy uses the same, possibly expired, keys; Lambda gives "
                    + "functions rotating container credentials instead",
                fix: "let the SDK use the container credentials provider (AWS_CONTAINER_CREDENTIALS_FULL_URI); don't "
                    + "pass long-lived keys to a SnapStart function"))
        }
        let stale = copies.filter { ($0.credentialFetches ?? 0) == 0 }
        if initCredentialFetches > 0, !stale.isEmpty {
            var evidence = ["fetched \(initCredentialFetches) time(s) during Init; copies \(stale.map { String($0.copy) }.joined(separator: ", ")) never fetched their rotated credentials"]
            evidence += credentialPaths.sorted().map { "cached at \($0)" }
            found.append(Finding(
                category: "credentials", title: "credentials fetched during Init are cached in the snapshot",
                evidence: evidence,
                why: "Lambda rotates container credentials on every restore; a copy that keeps the Init-time ones "
                    + "uses credentials that belong to another environment and expire (every copy shares them)",
                fix: "fetch credentials in the handler (SDK clients refresh them), or drop the cache in a "
                    + "before-snapshot hook and refetch in an after-restore hook"))
        }

        // 6. Hooks that never run.
        for module in reference.hooks.unimported {
            found.append(Finding(
                category: "hooks", title: "module \(module.module) registers hooks, but the handler never imports it",
                evidence: ["\(module.file) calls register_before_snapshot/register_after_restore and is not imported during Init"],
                why: "hooks are registered when their module is imported; Lambda never imports a module on its own, "
                    + "so these hooks never run",
                fix: "import \(module.module) from the handler module (at module level, during Init)"))
        }
        let lateBefore = Set(facts.flatMap(\.hooks.pendingBeforeSnapshot))
        let lateAfter = Set(facts.flatMap { Array($0.hooks.afterRestore.dropFirst(afterRestoreHooksAtInit.count)) })
        if !lateBefore.isEmpty || !lateAfter.isEmpty {
            found.append(Finding(
                category: "hooks", title: "hooks registered after the snapshot (inside the handler) never run",
                evidence: lateBefore.sorted().map { "before-snapshot hook \($0) registered during an invocation" }
                    + lateAfter.sorted().map { "after-restore hook \($0) registered after the restore" },
                why: "the snapshot was taken and this environment restored before the handler ran: hooks registered "
                    + "now are never called, and each invocation registers them again",
                fix: "register hooks at module level, so they exist when Init ends"))
        }
        return found
    }

    /// Files SDKs leave in /tmp during Init that mean the same thing in every copy (the X-Ray SDK's marker).
    static let harmlessTmpMarkers = ["/tmp/.aws-xray/initialized"]

    /// "mod.LIST" for "mod.LIST[3]": the list or tuple an indexed value sits in; nil for other paths.
    static func containerPath(_ path: String) -> String? {
        guard path.hasSuffix("]"), let open = path.lastIndex(of: "["),
              Int(path[path.index(after: open)..<path.index(before: path.endIndex)]) != nil else { return nil }
        return String(path[..<open])
    }

    static func valueFinding(_ value: ValueFact, copies: Int) -> Finding {
        switch value.kind {
        case "generator":
            let reseed: String // what gives that object a state of its own in each copy
            switch value.preview {
            case "numpy.random.Generator": reseed = "\(value.path) = numpy.random.default_rng() (assign it in its module)"
            case "numpy.random.RandomState": reseed = "\(value.path).seed(int.from_bytes(os.urandom(4), 'little'))"
            default: reseed = "\(value.path).seed(os.urandom(32))"
            }
            return Finding(
                category: "uniqueness", title: "\(value.path) (\(value.preview)) has the same generator state in every restored copy",
                evidence: ["state digest \(value.digest) in all \(copies) copies; an independent Init's \(value.path) differs"],
                why: "the generator object was seeded during Init and its state is part of the snapshot: every "
                    + "environment restored from it draws the same sequence. Reseeding the `random` module does not "
                    + "touch it",
                fix: "reseed that object in an after-restore hook: `@register_after_restore` def reseed(): \(reseed)")
        case "timestamp":
            return Finding(
                category: "time", title: "\(value.path) was computed from the clock during Init",
                evidence: ["\(value.path) = \(value.preview) in all \(copies) copies (an independent Init differs)"],
                why: "the value is frozen into the snapshot: copies restored minutes or days later still see the "
                    + "Init-time value, so expiry checks, TTLs and \"started at\" times are stale (the wall clock "
                    + "itself jumps forward on restore)",
                fix: "compute it in the handler, or recompute it in an after-restore hook")
        case "bytes":
            return Finding(
                category: "entropy", title: "\(value.path) holds random bytes drawn during Init",
                evidence: ["\(value.path) (\(value.preview)) is identical in all \(copies) copies (an independent Init differs)"],
                why: "bytes read from os.urandom at Init are replayed by every restored copy: nonces, keys and IDs "
                    + "cut from them repeat across environments",
                fix: "call os.urandom / secrets in the handler when the bytes are needed, or refill the pool in an "
                    + "after-restore hook")
        default:
            return Finding(
                category: "uniqueness", title: "\(value.path) looks unique but is the same in every restored copy",
                evidence: ["\(value.path) = \(value.preview) (\(value.kind)) in all \(copies) copies (an independent Init differs)"],
                why: "it was generated once, during Init, and is part of the snapshot: every environment restored "
                    + "from it shares the \"unique\" value (idempotency keys, request ids, tokens collide)",
                fix: "generate it in the handler, or regenerate it in an after-restore hook "
                    + "(`@register_after_restore`)")
        }
    }
}
extension StaleStateCheck {
    /// The one value every copy reported, or nil when they differ (or one reported none).
    static func sameInEvery(_ values: [String?]) -> String? {
        guard let first = values.first ?? nil, values.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// An OpenSSL generator the inspector probes.
    struct OpenSSLGenerator: Sendable {
        /// Its key in `FunctionFacts.openssl`.
        let key: String
        let name: String
        /// The fix that works (mixing fresh kernel entropy in makes OpenSSL reseed; tried with restored copies).
        let fix: String
        /// Whether the function's own code draws from it (a bug), not only a library on its behalf (a risk).
        let usedByFunction: @Sendable (FunctionFacts) -> Bool
    }

    static let opensslGenerators: [OpenSSLGenerator] = [
        // The system OpenSSL behind `ssl` is primed by any TLS context a library makes at Init (urllib, botocore), and
        // Lambda's managed runtimes ship their own OpenSSL build, whose behaviour after a restore snapharness cannot
        // reproduce: a bug only when the function's own code uses `ssl`.
        OpenSSLGenerator(key: "ssl", name: "OpenSSL's random generator behind Python's `ssl` module",
                         fix: "reseed it in an after-restore hook: `@register_after_restore` def reseed_openssl(): "
                             + "ssl.RAND_add(os.urandom(32), 32.0)",
                         usedByFunction: { $0.sslUsed == true }),
        // The OpenSSL a wheel bundles is the same on Lambda, and only the function's use of `cryptography` draws from it.
        OpenSSLGenerator(key: "cryptography", name: "The random generator of the OpenSSL that `cryptography` bundles",
                         fix: "reseed it in an after-restore hook: `@register_after_restore` def reseed_openssl(): from "
                             + "cryptography.hazmat.bindings.openssl.binding import Binding; "
                             + "Binding.lib.RAND_add(os.urandom(32), 32, 32.0)",
                         usedByFunction: { _ in true }),
    ]
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
