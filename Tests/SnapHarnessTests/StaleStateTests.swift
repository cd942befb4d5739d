import Foundation
import Glibc
import Testing

/// Every class of SnapStart stale-state bug: `run` reproduces the symptom across restored copies with the buggy
/// handler, `check` flags it, and `check` is clean on the fixed handler.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct StaleStateTests {
    func example(_ category: String, _ variant: String) -> String { CLI.example("stale-state/\(category)/\(variant)") }

    /// Results of `run --restores 2`, one per copy.
    func results(_ args: [String], _ client: RuntimeClient = .builtin) throws -> ([[String: Any]], CLIResult) {
        let r = try CLI.run(["run"] + args + ["--restores", "2"] + client.flags)
        let lines = r.jsonLines.map(object)
        return (lines.map { object($0["result"] ?? $0["error"]) }, r)
    }

    /// `check` with JSON output: the categories of the bugs found (exit 2), or none (exit 0; risks may be reported).
    func check(_ args: [String], _ client: RuntimeClient = .builtin, expectFindings: Bool) throws -> [String] {
        let r = try CLI.run(["check"] + args + ["--restores", "2", "--json"] + client.flags)
        #expect(r.exitCode == (expectFindings ? 2 : 0), "\(r)")
        let findings = (object(r.json)["findings"] as? [Any])?.map(object) ?? []
        return findings.filter { $0["severity"] as? String == "bug" }.compactMap { $0["category"] as? String }
    }

    @Test(arguments: RuntimeClient.allCases)
    func uniqueness(client: RuntimeClient) throws {
        let (copies, r) = try results([example("uniqueness", "buggy")], client)
        #expect(copies.count == 2, "\(r)")
        #expect(Set(copies.compactMap { $0["session_id"] as? String }).count == 1, "session ids should collide")
        #expect(Set(copies.compactMap { $0["idempotency_key"] as? String }).count == 1, "random numbers should repeat")
        #expect(try check([example("uniqueness", "buggy")], client, expectFindings: true) == ["uniqueness", "uniqueness"])
        #expect(try check([example("uniqueness", "fixed")], client, expectFindings: false).isEmpty)
        let (fixed, _) = try results([example("uniqueness", "fixed")], client)
        #expect(Set(fixed.compactMap { $0["idempotency_key"] as? String }).count == 2)
    }

    /// A generator object made at Init (`random.Random()`): found by its path with a fix that reseeds that object;
    /// the module's global generator, which the function never draws from, is not a bug.
    @Test(arguments: RuntimeClient.allCases)
    func generatorObjects(client: RuntimeClient) throws {
        let (copies, r) = try results([example("generators", "buggy")], client)
        #expect(copies.count == 2 && Set(copies.compactMap { $0["order_id"] as? String }).count == 1, "\(r)")
        let found = try CLI.run(["check", example("generators", "buggy"), "--restores", "2", "--json"] + client.flags)
        #expect(found.exitCode == 2, "\(found)")
        let findings = (object(found.json)["findings"] as? [Any] ?? []).map(object).filter { $0["severity"] as? String == "bug" }
        #expect(findings.count == 1, "one bug: the object; the random module it never draws from is a risk at most: \(findings)")
        #expect((findings.first?["title"] as? String)?.hasPrefix("lambda_function._rng (random.Random)") == true, "\(findings)")
        #expect((findings.first?["fix"] as? String)?.contains("lambda_function._rng.seed(os.urandom(32))") == true, "\(findings)")
        #expect(try check([example("generators", "fixed")], client, expectFindings: false).isEmpty)
        let (fixed, _) = try results([example("generators", "fixed")], client)
        #expect(Set(fixed.compactMap { $0["order_id"] as? String }).count == 2)
    }

    /// A global generator that only a library loaded is a risk: reported, exit 0; exit 2 with --strict.
    @Test func aGeneratorNobodyDrawsFromIsARisk() throws {
        let r = try CLI.run(["check", CLI.fixture("check_risk"), "--restores", "2", "--json"])
        #expect(r.exitCode == 0, "\(r)")
        let findings = (object(r.json)["findings"] as? [Any] ?? []).map(object)
        #expect(findings.contains { ($0["title"] as? String)?.hasPrefix("Python's `random` module") == true
                                    && $0["severity"] as? String == "risk" }, "\(findings)")
        #expect(!findings.contains { $0["severity"] as? String == "bug" }, "\(findings)")
        let strict = try CLI.run(["check", CLI.fixture("check_risk"), "--restores", "2", "--strict"])
        #expect(strict.exitCode == 2 && strict.stdout.contains("[uniqueness, risk]"), "\(strict)")
    }

    /// No false alarms: a list ordered by the hash seed, the X-Ray SDK's marker in /tmp.
    @Test func hashOrderAndHarmlessMarkersAreNotFindings() throws {
        for _ in 0..<2 { // the hash seed differs per process: twice, so a lucky order cannot hide the alarm
            #expect(try check([CLI.fixture("check_quiet")], expectFindings: false).isEmpty)
        }
    }

    /// numpy's global generator, when the function's Python has numpy (run as root: the interpreter with numpy may
    /// live where the unprivileged user cannot reach it).
    @Test(.enabled(if: StaleStateTests.numpyAvailable, "numpy is not importable by \(TestEnvironment.python)"))
    func numpyGlobalGenerator() throws {
        let args = [CLI.fixture("numpy_state"), "--user", "root", "--python", TestEnvironment.python]
        let (copies, r) = try results(args)
        #expect(copies.count == 2 && Set(copies.compactMap { $0["sample"] as? Double }).count == 1, "\(r)")
        let found = try CLI.run(["check"] + args + ["--restores", "2", "--json"])
        #expect(found.exitCode == 2, "\(found)")
        #expect(found.stdout.contains("numpy's global random generator has the same state"), "\(found.stdout.prefix(3000))")
    }

    static let numpyAvailable: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.python)
        p.arguments = ["-c", "import numpy"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    @Test(arguments: RuntimeClient.allCases)
    func entropy(client: RuntimeClient) throws {
        let (copies, r) = try results([example("entropy", "buggy")], client)
        #expect(copies.count == 2 && Set(copies.compactMap { $0["nonce"] as? String }).count == 1, "\(r)")
        #expect(try check([example("entropy", "buggy")], client, expectFindings: true) == ["entropy"])
        #expect(try check([example("entropy", "fixed")], client, expectFindings: false).isEmpty)
    }

    /// OpenSSL's generator used during Init: every copy draws the same bytes; check finds it by drawing in each copy.
    @Test(arguments: RuntimeClient.allCases)
    func openssl(client: RuntimeClient) throws {
        let (copies, r) = try results([example("openssl", "buggy")], client)
        #expect(copies.count == 2 && Set(copies.compactMap { $0["nonce"] as? String }).count == 1, "\(r)")
        let found = try CLI.run(["check", example("openssl", "buggy"), "--restores", "2", "--json"] + client.flags)
        let bugs = (object(found.json)["findings"] as? [Any] ?? []).map(object).filter { $0["severity"] as? String == "bug" }
        #expect(found.exitCode == 2 && bugs.count == 1, "\(found)")
        #expect((bugs.first?["title"] as? String)?.hasPrefix("OpenSSL's random generator behind Python's `ssl` module") == true
                && (bugs.first?["fix"] as? String)?.contains("ssl.RAND_add(os.urandom(32), 32.0)") == true, "\(bugs)")
        #expect(try check([example("openssl", "fixed")], client, expectFindings: false).isEmpty)
        let (fixed, f) = try results([example("openssl", "fixed")], client)
        #expect(Set(fixed.compactMap { $0["nonce"] as? String }).count == 2, "\(f)")
    }

    @Test(arguments: RuntimeClient.allCases)
    func network(client: RuntimeClient) throws {
        let server = try TCPServer()
        defer { server.stop() }
        let env = ["--env", "DB_PORT=\(server.port)"]
        let (copies, r) = try results([example("network", "buggy")] + env, client)
        #expect(r.exitCode == 8, "\(r)")
        // Dead, as on Lambda: closed by CRIU's tcp-close (built-in runtime), or reset / destroyed after a restore that
        // kept the environment's own connections (awslambdaric's Runtime API connection).
        let dead: Set<String> = client == .builtin ? ["BrokenPipeError"]
            : ["BrokenPipeError", "ConnectionResetError", "ConnectionAbortedError"]
        #expect(copies.count == 2 && copies.allSatisfy { dead.contains($0["errorType"] as? String ?? "") }, "\(r)")
        #expect(try check([example("network", "buggy")] + env, client, expectFindings: true) == ["network"])
        // New connections work after restore: the fixed handler reconnects and every copy sends.
        let (fixed, f) = try results([example("network", "fixed")] + env, client)
        #expect(f.exitCode == 0 && fixed.allSatisfy { $0["sent"] as? Bool == true }, "\(f)")
        #expect(try check([example("network", "fixed")] + env, client, expectFindings: false).isEmpty)
    }

    @Test(arguments: RuntimeClient.allCases)
    func credentials(client: RuntimeClient) throws {
        let (copies, r) = try results([example("credentials", "buggy"), "--credentials-ttl", "1", "--restore-delay", "1.5s"], client)
        #expect(copies.count == 2, "\(r)")
        #expect(Set(copies.compactMap { $0["access_key_id"] as? String }).count == 1, "Init credentials are shared")
        #expect(copies.allSatisfy { $0["expired"] as? Bool == true }, "cached credentials expired: \(r)")
        #expect(copies.allSatisfy { ($0["access_key_id"] as? String)?.hasPrefix("ASIAFAKE") == true }, "only fake keys")
        // The Init credentials expire before the restore; the rotated ones must outlive a slow restore path (a
        // loaded CI machine took over 1 s from a copy's token to its handler).
        let (fixed, _) = try results([example("credentials", "fixed"), "--credentials-ttl", "4", "--restore-delay", "4.5s"], client)
        #expect(Set(fixed.compactMap { $0["access_key_id"] as? String }).count == 2, "each copy gets rotated credentials")
        #expect(fixed.allSatisfy { $0["expired"] as? Bool == false })
        #expect(try check([example("credentials", "buggy")], client, expectFindings: true) == ["credentials"])
        #expect(try check([example("credentials", "fixed")], client, expectFindings: false).isEmpty)
        // Real keys reach the function only when asked.
        let leak = try CLI.run(["check", example("credentials", "fixed"), "--restores", "2", "--json", "--pass-aws-credentials"] + client.flags,
                               environment: ["AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"])
        #expect(leak.exitCode == 2)
        #expect(leak.stdout.contains("AWS_ACCESS_KEY_ID is set in every copy"), "\(leak)")
    }

    @Test(arguments: RuntimeClient.allCases)
    func time(client: RuntimeClient) throws {
        let (copies, r) = try results([example("time", "buggy"), "--env", "TOKEN_TTL=1", "--restore-delay", "1.5s"], client)
        #expect(copies.count == 2 && copies.allSatisfy { $0["token_valid"] as? Bool == false }, "\(r)")
        #expect(try check([example("time", "buggy")], client, expectFindings: true) == ["time"])
        #expect(try check([example("time", "fixed")], client, expectFindings: false).isEmpty)
        let (fixed, _) = try results([example("time", "fixed"), "--env", "TOKEN_TTL=1", "--restore-delay", "1.5s"], client)
        #expect(fixed.allSatisfy { $0["token_valid"] as? Bool == true })
    }

    @Test func clockAcrossARestore() throws {
        let (copies, r) = try results([CLI.fixture("clock_disk"), "--restore-delay", "1.5s"])
        #expect(copies.count == 2, "\(r)")
        for c in copies {
            let wall = c["wall_gap"] as? Double ?? 0, mono = c["mono_gap"] as? Double ?? 99
            #expect(wall >= 1.5, "the wall clock jumps by the real gap: \(wall)")
            #expect(mono < 1.0, "CLOCK_MONOTONIC continues from the checkpoint (time namespace): \(mono)")
        }
    }

    @Test(arguments: RuntimeClient.allCases)
    func disk(client: RuntimeClient) throws {
        let (copies, r) = try results([example("disk", "buggy")], client)
        #expect(copies.count == 2 && Set(copies.compactMap { $0["lock_owner"] as? String }).count == 1, "\(r)")
        #expect(try check([example("disk", "buggy")], client, expectFindings: true).contains("disk"))
        #expect(try check([example("disk", "fixed")], client, expectFindings: false).isEmpty)
    }

    @Test func tmpIsPerCopyAndLimited() throws {
        let dir = TestEnvironment.scratchDirectory("disk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"action": "write"}"#.write(toFile: dir + "/write.json", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", CLI.fixture("clock_disk"), "--restores", "2", "--invocations", "2", "--event", dir + "/write.json"])
        #expect(r.exitCode == 0, "\(r)")
        let results = r.jsonLines.map(object)
        #expect(results.count == 4)
        var ownFiles: [Int: Set<String>] = [:]
        for line in results {
            let copy = line["copy"] as? Int ?? 0, result = object(line["result"])
            #expect(result["init_file"] as? String == "written during Init", "every copy starts with Init's /tmp")
            if let mine = result["mine"] as? String { ownFiles[copy, default: []].insert(mine) }
        }
        for line in results {
            let copy = line["copy"] as? Int ?? 0
            let listing = Set(object(line["result"])["tmp"] as? [String] ?? [])
            let others = ownFiles.filter { $0.key != copy }.values.reduce(Set<String>()) { $0.union($1) }
            #expect(listing.isDisjoint(with: others), "copy \(copy) sees another copy's files: \(listing)")
        }
        try #"{"action": "fill", "mb": 600}"#.write(toFile: dir + "/fill.json", atomically: true, encoding: .utf8)
        // /tmp is RAM here (a tmpfs charged to the environment's memory cgroup): enough memory that the disk fills first.
        let full = try CLI.run(["run", CLI.fixture("clock_disk"), "--event", dir + "/fill.json", "--memory", "1024"])
        #expect(full.exitCode == 8)
        #expect((object(full.json)["errorMessage"] as? String)?.contains("No space left on device") == true, "\(full)")
        #expect(full.stderr.contains("the most Lambda gives a SnapStart function"), "the error should name the limit: \(full)")
        // Lambda refuses SnapStart with more than 512 MB of ephemeral storage: so does every command, before Init.
        let bigger = try CLI.run(["run", CLI.fixture("clock_disk"), "--event", dir + "/fill.json", "--ephemeral-storage", "1024",
                                  "--memory", "2048"])
        #expect(bigger.exitCode == 1 && bigger.stderr.contains("refuses SnapStart with ephemeral storage above 512 MB"),
                "\(bigger)")
        #expect(!bigger.stderr.contains("INIT_START"), "refused before Init: \(bigger)")
    }

    @Test(arguments: RuntimeClient.allCases)
    func hooks(client: RuntimeClient) throws {
        let (copies, r) = try results([example("hooks", "buggy")], client)
        #expect(copies.count == 2 && copies.allSatisfy { $0["refreshed"] as? Bool == false }, "\(r)")
        #expect(!r.stderr.contains("reconnecting"), "warmup's hooks must not run")
        #expect(try check([example("hooks", "buggy")], client, expectFindings: true) == ["hooks", "hooks"])
        #expect(try check([example("hooks", "fixed")], client, expectFindings: false).isEmpty)
        let (fixed, f) = try results([example("hooks", "fixed")], client)
        #expect(fixed.allSatisfy { $0["refreshed"] as? Bool == true } && f.stderr.contains("reconnecting"), "\(f)")
    }
}
