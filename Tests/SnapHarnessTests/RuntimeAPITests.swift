import Foundation
import Glibc
import Testing

/// Lambda's Runtime API inside every environment: the in-tree API server, its state machine and limits, connections
/// across a checkpoint, and custom runtimes.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct RuntimeAPITests {

    /// A connection opened during Init is dead in every restored copy (its next use fails, nothing reaches the
    /// server), a new one works, and the runtime's own connection to the API keeps serving invocations.
    @Test(arguments: RuntimeClient.allCases)
    func anInitConnectionIsDeadAfterTheRestoreWhileTheAPIKeepsWorking(client: RuntimeClient) throws {
        let server = try TCPServer()
        defer { server.stop() }
        try leavesNothingBehind {
            let r = try CLI.run(["run", CLI.fixture("init_connection"), "--restores", "3", "--invocations", "2",
                                 "--env", "HOST_PORT=\(server.port)"] + client.flags)
            #expect(r.exitCode == 0, "\(r)")
            let results = r.jsonLines.map { object(object($0)["result"]) }
            #expect(results.count == 6, "3 copies x 2 invocations over the runtime's API connection: \(r)")
            let states = Set(results.compactMap { $0["init_connection"] as? String })
            #expect(!states.isEmpty && !states.contains("alive"), "the Init connection must be dead: \(states)")
        }
        let deadline = Date().addingTimeInterval(5)
        while server.lines < 7 && Date() < deadline { usleep(10_000) }
        usleep(200_000)
        #expect(server.lines == 7, "Init's line and one new connection per invocation; nothing over a dead connection")
    }

    /// A shell `bootstrap` (curl) gets SnapStart through restore/next: copies share Init's state and each gets its own
    /// restore/next answer. Without restore/next it is snapshotted at its first /next.
    @Test func aShellCustomRuntimeGetsSnapStart() throws {
        try leavesNothingBehind {
            let r = try CLI.run(["run", CLI.example("custom-runtime"), "--runtime", "provided.al2023", "--restores", "2"])
            #expect(r.exitCode == 0, "\(r)")
            let results = r.jsonLines.map { object(object($0)["result"]) }
            #expect(results.count == 2, "\(r)")
            #expect(Set(results.compactMap { $0["init_id"] as? String }).count == 1, "Init's state is the snapshot's")
            let restoreIds = Set(results.compactMap { $0["restore_id"] as? String })
            #expect(restoreIds.count == 2 && !restoreIds.contains("none"), "each copy's own restore/next: \(results)")
            #expect(r.stderr.contains("INIT_START Runtime Version: provided:al2023"), "\(r)")

            let atNext = try CLI.run(["run", CLI.example("custom-runtime"), "--runtime", "provided.al2023", "--restores", "2",
                                      "--env", "START_WITHOUT_RESTORE_NEXT=1"])
            #expect(atNext.exitCode == 0, "\(atNext)")
            let served = atNext.jsonLines.map { object(object($0)["result"]) }
            #expect(served.count == 2 && Set(served.compactMap { $0["init_id"] as? String }).count == 1, "\(atNext)")
        }
    }

    @Test func aCustomRuntimeNeedsAnExecutableBootstrap() throws {
        let r = try CLI.run(["run", CLI.example("hello"), "--runtime", "provided.al2023"])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("has no") && r.stderr.contains("bootstrap"), "\(r)")
        let mixed = try CLI.run(["run", CLI.example("custom-runtime"), "--runtime", "provided.al2023",
                                 "--runtime-client", "awslambdaric"])
        #expect(mixed.exitCode != 0 && mixed.stderr.contains("--runtime-client"), "\(mixed)")
    }

    /// Calls out of order get Lambda's status codes; a 7 MB response gets 413 and the caller sees
    /// Function.ResponseSizeTooLarge.
    @Test func outOfOrderCallsAndOversizedResponses() throws {
        let fixture = CLI.fixture("api_misuse")
        let r = try CLI.run(["run", fixture, "--runtime", "provided.al2023", "--invocations", "2"])
        #expect(r.exitCode == 0, "\(r)")
        let results = r.jsonLines.map(object) // one copy: each result on a line of its own
        #expect(results.count == 2, "\(r)")
        let first = results.first ?? [:]
        #expect(first["init:response_unknown_id"] as? Int == 400, "\(first)")
        #expect(first["init:restore_error"] as? Int == 403, "\(first)")
        #expect(first["init:restore_next"] as? Int == 200, "\(first)")
        #expect(first["restored:restore_next_again"] as? Int == 403, "\(first)")
        #expect(first["restored:init_error"] as? Int == 403, "\(first)")
        #expect((first["headers"] as? [String])?.contains("Lambda-Runtime-Deadline-Ms") == true, "\(first)")
        #expect(results.last?["invoke:response_twice"] as? Int == 403, "\(results)")

        let big = try CLI.run(["run", fixture, "--runtime", "provided.al2023", "--event", "-", "--json"],
                              stdin: #"{"big": true}"#)
        #expect(big.exitCode == 8, "\(big)")
        #expect(big.report?.copies.first?.invocations.first?.error?.type == .functionResponseSizeTooLarge, "\(big)")
    }
}
