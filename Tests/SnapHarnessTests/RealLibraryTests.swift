import Foundation
import Glibc
import Testing

/// Stale state with real libraries against real servers: what `run` shows, what `check` reports (cause and fix),
/// and the fixed variant that `check` passes, three runs in a row (no intermittent findings). The libraries come
/// from PyPI into each example's `layer` folder (`scripts/test-deps.sh`, run by `make test`), as a Lambda layer
/// would carry them.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct RealLibraryTests {
    func example(_ name: String, _ variant: String) -> String { CLI.example("stale-state/\(name)/\(variant)") }
    func layer(_ name: String) -> [String] { ["--layer", CLI.example("stale-state/\(name)/layer")] }

    /// Whether `scripts/test-deps.sh` installed the example's layer (it needs root and PyPI).
    static func installed(_ name: String) -> Bool {
        let lib = CLI.example("stale-state/\(name)/layer/python/lib")
        return ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).contains {
            FileManager.default.fileExists(atPath: "\(lib)/\($0)/site-packages/.snapharness-installed")
        }
    }
    static let notInstalled = "the example's layer is not installed (`make test` installs it as root: scripts/test-deps.sh)"

    /// Each copy's results, in order.
    func resultsByCopy(_ r: CLIResult) -> [Int: [[String: Any]]] {
        r.jsonLines.map(object).reduce(into: [:]) { byCopy, line in
            byCopy[line["copy"] as? Int ?? 0, default: []].append(object(line["result"] ?? line["error"]))
        }
    }

    /// One result field's values per copy, copies in order, invocations in order.
    func valuesByCopy<T>(_ r: CLIResult, _ key: String, as: T.Type = T.self) -> [[T]] {
        resultsByCopy(r).sorted { $0.key < $1.key }.map { $0.value.compactMap { $0[key] as? T } }
    }

    /// The findings of `check --json` of one variant.
    func findings(_ r: CLIResult) -> [[String: Any]] { (object(r.json)["findings"] as? [Any] ?? []).map(object) }

    /// `check` three rounds in a row: the buggy variant's bugs are exactly `expected` (categories), plus one risk of
    /// category `risk` when given, and `examine` sees each of those findings; the fixed variant has no bug (and no
    /// risk of that category). Risks a library's mere presence brings (a global generator it loaded) may stay.
    func checkThreeRounds(_ name: String, _ args: [String], bugs expected: [String], risk: String? = nil,
                          examine: ([String: Any]) -> Void) throws {
        for round in 1...3 {
            let found = try CLI.run(["check", example(name, "buggy"), "--restores", "2", "--json"] + args)
            let all = findings(found)
            let bugs = all.filter { $0["severity"] as? String == "bug" }
            #expect(found.exitCode == (expected.isEmpty ? 0 : 2), "round \(round): \(found)")
            #expect(bugs.compactMap { $0["category"] as? String } == expected, "round \(round): \(all)")
            var flagged = bugs
            if let risk {
                let risks = all.filter { $0["severity"] as? String == "risk" && $0["category"] as? String == risk }
                #expect(risks.count == 1, "round \(round): \(all)")
                flagged += risks
            }
            flagged.forEach(examine)
            let clean = try CLI.run(["check", example(name, "fixed"), "--restores", "2", "--json"] + args)
            let left = findings(clean)
            #expect(clean.exitCode == 0 && !left.contains { $0["severity"] as? String == "bug" }
                    && !left.contains { risk != nil && $0["category"] as? String == risk }, "round \(round): \(clean)")
        }
    }

    /// A psycopg connection made during Init is dead in every copy (OperationalError); check names the connection to
    /// the server and what psycopg does next; the fixed variant gives each copy its own server session.
    @Test(.enabled(if: PostgresServer.available
                   && FileManager.default.fileExists(atPath: CLI.example("stale-state/postgres/layer/python/psycopg")),
                   "needs Debian's PostgreSQL and psycopg (`make test` installs them: scripts/test-deps.sh)"))
    func postgresConnectionMadeDuringInit() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        let args = layer("postgres") + pg.environment
        try leavesNothingBehind {
            let buggy = try CLI.run(["run", example("postgres", "buggy"), "--restores", "2"] + args)
            #expect(buggy.exitCode == 8, "\(buggy)")
            let errors = buggy.jsonLines.map { object(object($0)["error"]) }
            #expect(errors.count == 2 && errors.allSatisfy { $0["errorType"] as? String == "OperationalError" }, "\(buggy)")

            let fixed = try CLI.run(["run", example("postgres", "fixed"), "--restores", "2"] + args)
            #expect(fixed.exitCode == 0, "\(fixed)")
            let pids = fixed.jsonLines.compactMap { object(object($0)["result"])["backend_pid"] as? Int }
            #expect(pids.count == 2 && Set(pids).count == 2, "each copy has its own server session: \(fixed)")

            // Clean: no bug. psycopg imports `random` without drawing from it: that stays a risk, as designed.
            try checkThreeRounds("postgres", args, bugs: ["network"]) { bug in
                let evidence = (bug["evidence"] as? [String] ?? []).joined(separator: "\n")
                #expect(evidence.contains(":\(pg.port)") && evidence.contains("PostgreSQL (psycopg)"), "\(bug)")
                #expect((bug["why"] as? String)?.contains("OperationalError") == true, "\(bug)")
            }
        }
    }

    /// A boto3 client made during Init signs with Init's credentials in every copy; `boto3.client` again after the
    /// restore does not help (the default session keeps them), a client from a new session does.
    @Test func boto3ClientMadeDuringInit() throws {
        let ttl = ["--credentials-ttl", "3600"] // an hour: botocore refreshes only 15 minutes before expiry
        func keys(_ r: CLIResult) -> [String] { r.jsonLines.compactMap { object(object($0)["result"])["access_key_id"] as? String } }
        try leavesNothingBehind {
            let buggy = try CLI.run(["run", example("boto3", "buggy"), "--restores", "2"] + ttl)
            #expect(buggy.exitCode == 0 && keys(buggy).count == 2 && Set(keys(buggy)).count == 1, "\(buggy)")
            #expect(keys(buggy).allSatisfy { $0.hasPrefix("ASIAFAKE") }, "only the harness's fake keys: \(buggy)")
            let fixed = try CLI.run(["run", example("boto3", "fixed"), "--restores", "2"] + ttl)
            #expect(fixed.exitCode == 0 && Set(keys(fixed)).count == 2, "each copy signs with its own: \(fixed)")
            try checkThreeRounds("boto3", ttl, bugs: ["credentials"]) { bug in
                #expect((bug["evidence"] as? [String] ?? []).contains("cached at lambda_function.S3._request_signer._credentials"),
                        "\(bug)")
            }
        }
    }

    /// A requests Session warmed up during Init: urllib3 finds the pooled connection dead in each copy and opens
    /// another (the request works: a risk, named by the object that holds the connection, on a port no guess by
    /// port number would name); emptying the pool before the snapshot removes it. A bare http.client connection to
    /// the same server fails in every copy instead: a bug.
    @Test(.enabled(if: RealLibraryTests.installed("requests"), Comment(rawValue: RealLibraryTests.notInstalled)))
    func requestsPoolWarmedDuringInit() throws {
        let server = try ExampleServer(CLI.example("stale-state/requests/server.py"))
        defer { server.stop() }
        let args = layer("requests") + ["--env", "API_PORT=\(server.port)"]
        try leavesNothingBehind {
            let buggy = try CLI.run(["run", example("requests", "buggy"), "--restores", "2"] + args)
            let replies = resultsByCopy(buggy).values.flatMap { $0 }
            #expect(buggy.exitCode == 0 && replies.count == 2 && replies.allSatisfy { $0["status"] as? Int == 200 }, "\(buggy)")
            #expect(buggy.stderr.components(separatedBy: "Resetting dropped connection").count - 1 == 2,
                    "each copy's pool found Init's connection dead: \(buggy.stderr)")
            let fixed = try CLI.run(["run", example("requests", "fixed"), "--restores", "2"] + args)
            #expect(fixed.exitCode == 0 && !fixed.stderr.contains("Resetting dropped connection"), "\(fixed)")

            try checkThreeRounds("requests", args, bugs: [], risk: "network") { risk in
                let evidence = (risk["evidence"] as? [String] ?? []).joined(separator: "\n")
                #expect(evidence.contains(":\(server.port) at checkpoint: HTTP(S) in urllib3's pool"), "\(risk)")
                #expect((risk["fix"] as? String)?.contains("close the pool in a before-snapshot hook") == true, "\(risk)")
            }
            let strict = try CLI.run(["check", example("requests", "buggy"), "--restores", "2", "--strict"] + args)
            #expect(strict.exitCode == 2 && strict.stdout.contains("[network, risk]"), "\(strict)")

            // The same server through a bare http.client connection: it fails, and it is a bug, named by its owner.
            let bare = ["--env", "API_PORT=\(server.port)"]
            let broken = try CLI.run(["run", CLI.fixture("http_client_init"), "--restores", "2"] + bare)
            #expect(broken.exitCode == 8 && broken.jsonLines.allSatisfy {
                object(object($0)["error"])["errorType"] as? String == "BrokenPipeError" }, "\(broken)")
            let found = try CLI.run(["check", CLI.fixture("http_client_init"), "--restores", "2", "--json"] + bare)
            let bugs = findings(found).filter { $0["severity"] as? String == "bug" }
            #expect(found.exitCode == 2 && bugs.compactMap { $0["category"] as? String } == ["network"], "\(found)")
            let evidence = (bugs.first?["evidence"] as? [String] ?? []).joined(separator: "\n")
            #expect(evidence.contains("HTTP in an http.client.HTTPConnection"), "\(bugs)")
        }
    }

    /// A numpy Generator made during Init draws the same sequence in every copy; found by its path, with a fix that
    /// makes that object again. numpy's global generator, which nothing draws from, stays a risk.
    @Test(.enabled(if: RealLibraryTests.installed("numpy"), Comment(rawValue: RealLibraryTests.notInstalled)))
    func numpyGeneratorMadeDuringInit() throws {
        let args = layer("numpy")
        try leavesNothingBehind {
            let buggy = resultsByCopy(try CLI.run(["run", example("numpy", "buggy"), "--restores", "2"] + args))
            #expect(buggy.count == 2 && Set(buggy.values.compactMap { $0.first?["sample_id"] as? Int }).count == 1, "\(buggy)")
            let fixed = resultsByCopy(try CLI.run(["run", example("numpy", "fixed"), "--restores", "2"] + args))
            #expect(fixed.count == 2 && Set(fixed.values.compactMap { $0.first?["sample_id"] as? Int }).count == 2, "\(fixed)")
            try checkThreeRounds("numpy", args, bugs: ["uniqueness"]) { bug in
                #expect((bug["title"] as? String)?.hasPrefix("lambda_function.RNG (numpy.random.Generator)") == true, "\(bug)")
                #expect((bug["fix"] as? String)?.contains("lambda_function.RNG = numpy.random.default_rng()") == true, "\(bug)")
            }
        }
    }

    /// A key made with `cryptography` during Init seeds the bundled OpenSSL's generator: every copy makes the same
    /// keys. check draws from it in each copy; the fix (RAND_add after the restore) makes the copies' keys differ.
    @Test(.enabled(if: RealLibraryTests.installed("cryptography"), Comment(rawValue: RealLibraryTests.notInstalled)))
    func cryptographyKeysAfterAnInitKey() throws {
        let args = layer("cryptography")
        func keys(_ r: CLIResult) -> [[String]] { valuesByCopy(r, "session_key") }
        try leavesNothingBehind {
            let buggy = keys(try CLI.run(["run", example("cryptography", "buggy"), "--restores", "2", "--invocations", "3"] + args))
            #expect(buggy.count == 2 && buggy[0].count == 3 && buggy[0] == buggy[1], "the same keys in both copies: \(buggy)")
            let fixed = keys(try CLI.run(["run", example("cryptography", "fixed"), "--restores", "2", "--invocations", "3"] + args))
            #expect(fixed.count == 2 && Set(fixed.joined()).count == 6, "every key differs: \(fixed)")
            try checkThreeRounds("cryptography", args, bugs: ["entropy"]) { bug in
                #expect((bug["title"] as? String)?.hasPrefix("The random generator of the OpenSSL that `cryptography` bundles") == true, "\(bug)")
                #expect((bug["fix"] as? String)?.contains("Binding.lib.RAND_add(os.urandom(32), 32, 32.0)") == true, "\(bug)")
            }
        }
    }

    /// Powertools' Logger draws from `random` during Init to sample debug logs: every copy makes the same sampling
    /// decisions. check names the library that drew; reseeding `random` after the restore fixes it.
    @Test(.enabled(if: RealLibraryTests.installed("powertools"), Comment(rawValue: RealLibraryTests.notInstalled)))
    func powertoolsLoggerSampling() throws {
        let args = layer("powertools")
        func decisions(_ r: CLIResult) -> [[Bool]] { valuesByCopy(r, "debug_sampled") }
        try leavesNothingBehind {
            // 16 decisions at a rate of 0.5: two copies sampling on their own agree on all of them once in 65,536.
            let buggy = decisions(try CLI.run(["run", example("powertools", "buggy"), "--restores", "2", "--invocations", "16"] + args))
            #expect(buggy.count == 2 && buggy[0].count == 16 && buggy[0] == buggy[1], "\(buggy)")
            let fixed = decisions(try CLI.run(["run", example("powertools", "fixed"), "--restores", "2", "--invocations", "16"] + args))
            #expect(fixed.count == 2 && fixed[0].count == 16 && fixed[0] != fixed[1], "\(fixed)")
            try checkThreeRounds("powertools", args, bugs: ["uniqueness"]) { bug in
                #expect((bug["title"] as? String)?.hasPrefix("Python's `random` module") == true, "\(bug)")
                #expect((bug["evidence"] as? [String] ?? []).contains("drawn from during Init by a library: aws_lambda_powertools.logging.logger"),
                        "\(bug)")
            }
        }
    }
}
