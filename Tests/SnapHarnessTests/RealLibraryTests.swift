import Foundation
import Glibc
import Testing

/// Stale state with real libraries against real servers: what `run` shows, what `check` reports (cause and fix),
/// and the fixed variant that `check` passes, three runs in a row (no intermittent findings).
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct RealLibraryTests {
    func object(_ any: Any?) -> [String: Any] { any as? [String: Any] ?? [:] }
    let layer = ["--layer", CLI.example("stale-state/postgres/layer")]
    func example(_ variant: String) -> String { CLI.example("stale-state/postgres/\(variant)") }

    /// A psycopg connection made during Init is dead in every copy (OperationalError); check names the connection to
    /// the server and what psycopg does next; the fixed variant gives each copy its own server session.
    @Test(.enabled(if: PostgresServer.available, "needs Debian's PostgreSQL (`make test` installs it: scripts/test-deps.sh)"))
    func postgresConnectionMadeDuringInit() throws {
        let pg = try PostgresServer()
        defer { pg.stop() }
        let args = layer + pg.environment
        try leavesNothingBehind {
            let buggy = try CLI.run(["run", example("buggy"), "--restores", "2"] + args)
            #expect(buggy.exitCode == 8, "\(buggy)")
            let errors = buggy.jsonLines.map { object(object($0)["error"]) }
            #expect(errors.count == 2 && errors.allSatisfy { $0["errorType"] as? String == "OperationalError" }, "\(buggy)")

            let fixed = try CLI.run(["run", example("fixed"), "--restores", "2"] + args)
            #expect(fixed.exitCode == 0, "\(fixed)")
            let pids = fixed.jsonLines.compactMap { object(object($0)["result"])["backend_pid"] as? Int }
            #expect(pids.count == 2 && Set(pids).count == 2, "each copy has its own server session: \(fixed)")

            for round in 1...3 {
                let found = try CLI.run(["check", example("buggy"), "--restores", "2", "--json"] + args)
                #expect(found.exitCode == 2, "round \(round): \(found)")
                let bugs = (object(found.json)["findings"] as? [Any] ?? []).map(object).filter { $0["severity"] as? String == "bug" }
                #expect(bugs.compactMap { $0["category"] as? String } == ["network"], "round \(round): \(bugs)")
                let evidence = (bugs.first?["evidence"] as? [String] ?? []).joined(separator: "\n")
                #expect(evidence.contains(":\(pg.port)") && evidence.contains("PostgreSQL (psycopg)"), "round \(round): \(bugs)")
                #expect((bugs.first?["why"] as? String)?.contains("OperationalError") == true, "round \(round): \(bugs)")
                // Clean: no bug. psycopg imports `random` without drawing from it: that stays a risk, as designed.
                let clean = try CLI.run(["check", example("fixed"), "--restores", "2", "--json"] + args)
                let cleanFindings = (object(clean.json)["findings"] as? [Any] ?? []).map(object)
                #expect(clean.exitCode == 0 && cleanFindings.allSatisfy { $0["severity"] as? String == "risk" }
                        && !cleanFindings.contains { $0["category"] as? String == "network" }, "round \(round): \(clean)")
            }
        }
    }

    /// A boto3 client made during Init signs with Init's credentials in every copy; `boto3.client` again after the
    /// restore does not help (the default session keeps them), a client from a new session does.
    @Test func boto3ClientMadeDuringInit() throws {
        let ttl = ["--credentials-ttl", "3600"] // an hour: botocore refreshes only 15 minutes before expiry
        func keys(_ r: CLIResult) -> [String] { r.jsonLines.compactMap { object(object($0)["result"])["access_key_id"] as? String } }
        try leavesNothingBehind {
            let buggy = try CLI.run(["run", CLI.example("stale-state/boto3/buggy"), "--restores", "2"] + ttl)
            #expect(buggy.exitCode == 0 && keys(buggy).count == 2 && Set(keys(buggy)).count == 1, "\(buggy)")
            #expect(keys(buggy).allSatisfy { $0.hasPrefix("ASIAFAKE") }, "only the harness's fake keys: \(buggy)")
            let fixed = try CLI.run(["run", CLI.example("stale-state/boto3/fixed"), "--restores", "2"] + ttl)
            #expect(fixed.exitCode == 0 && Set(keys(fixed)).count == 2, "each copy signs with its own: \(fixed)")
            let found = try CLI.run(["check", CLI.example("stale-state/boto3/buggy"), "--restores", "2", "--json"] + ttl)
            let bugs = (object(found.json)["findings"] as? [Any] ?? []).map(object).filter { $0["severity"] as? String == "bug" }
            #expect(found.exitCode == 2 && bugs.compactMap { $0["category"] as? String } == ["credentials"], "\(found)")
            #expect((bugs.first?["evidence"] as? [String] ?? []).contains("cached at lambda_function.S3._request_signer._credentials"),
                    "\(bugs)")
            let clean = try CLI.run(["check", CLI.example("stale-state/boto3/fixed"), "--restores", "2", "--json"] + ttl)
            let cleanBugs = (object(clean.json)["findings"] as? [Any] ?? []).map(object).filter { $0["severity"] as? String == "bug" }
            #expect(clean.exitCode == 0 && cleanBugs.isEmpty, "\(clean)")
        }
    }
}
