import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol
import Testing

/// Every Lambda error type and exit code the lifecycle reproduces, with short limits so the suite stays fast.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct LifecycleErrorTests {
    let behaviours = CLI.fixture("behaviours")


    /// A run with `--json`, its report decoded as the engine's `LifecycleReport`.
    func runJSON(_ args: [String]) throws -> (CLIResult, LifecycleReport) {
        let r = try CLI.run(args + ["--json"])
        return (r, try #require(r.report, "--json prints a LifecycleReport: \(r)"))
    }

    @Test(arguments: RuntimeClient.allCases)
    func importErrorNamesTheModule(client: RuntimeClient) throws {
        let (r, report) = try runJSON(["run", CLI.fixture("import_missing")] + client.flags)
        #expect(r.exitCode == 3, "\(r)")
        #expect(report.failure?.phase == .`init`)
        #expect(report.failure?.error?.type == .runtimeImportModuleError)
        #expect(report.failure?.error?.errorMessage == "Unable to import module 'lambda_function': No module named 'requests_that_do_not_exist'")
    }

    @Test(arguments: RuntimeClient.allCases)
    func snapshotRestoreImportGetsAHint(client: RuntimeClient) throws {
        let r = try CLI.run(["run", CLI.fixture("import_snapshot_restore")] + client.flags)
        #expect(r.exitCode == 3)
        #expect(r.stderr.contains("Runtime.ImportModuleError"), "\(r)")
        #expect(r.stderr.contains("snapshot_restore_py"), "the hint should name the right module: \(r)")
        #expect(r.stderr.contains("INIT_REPORT") && r.stderr.contains("Status: error"))
    }

    @Test(arguments: RuntimeClient.allCases)
    func missingHandlerAndSyntaxError(client: RuntimeClient) throws {
        let (missing, m) = try runJSON(["run", behaviours, "--handler", "lambda_function.nope"] + client.flags)
        #expect(missing.exitCode == 3)
        #expect(m.failure?.error?.errorType == "Runtime.HandlerNotFound")
        #expect(m.failure?.error?.errorMessage == "Handler 'nope' missing on module 'lambda_function'")
        let (syntax, s) = try runJSON(["run", CLI.fixture("syntax_error")] + client.flags)
        #expect(syntax.exitCode == 3)
        #expect(s.failure?.error?.errorType == "Runtime.UserCodeSyntaxError")
    }

    @Test(arguments: RuntimeClient.allCases)
    func initRaisesOrExits(client: RuntimeClient) throws {
        let (r, report) = try runJSON(["run", behaviours, "--env", "MODE=init_raise"] + client.flags)
        #expect(r.exitCode == 3)
        let error = report.failure?.error
        #expect(error?.type == .function("RuntimeError"))
        #expect(error?.errorMessage == "init went wrong")
        #expect(error?.stackTrace?.contains { $0.contains("lambda_function.py") } == true)
        let exit = try CLI.run(["run", behaviours, "--env", "MODE=init_exit"] + client.flags)
        #expect(exit.exitCode == 3)
        #expect(exit.stderr.contains("exited with code 3"), "\(exit)")
    }

    @Test func initTimeoutStopsTheFunction() throws {
        let r = try CLI.run(["run", behaviours, "--env", "MODE=init_sleep", "--init-timeout", "1"])
        #expect(r.exitCode == 3, "\(r)")
        #expect(r.stderr.contains("Status: timeout"), "\(r)")
        #expect(r.stderr.contains("Init limit"))
    }

    @Test(arguments: RuntimeClient.allCases)
    func beforeSnapshotHookFailureKeepsNoSnapshot(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("bsnap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["snapshot", behaviours, "--env", "MODE=before_raise", "-o", dir + "/snap", "--json"] + client.flags)
        #expect(r.exitCode == 4, "\(r)")
        let failure = try #require(r.report?.failure, "\(r)")
        #expect(failure.error?.type == .runtimeBeforeSnapshotError && failure.exitCode == 4)
        #expect(failure.message.contains("exited with code 64"), "agent exit code: \(failure)")
        #expect(failure.message.contains("ValueError: cannot snapshot now"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no snapshot may be kept")

        let hang = try CLI.run(["run", behaviours, "--env", "MODE=before_hang", "--init-timeout", "1"] + client.flags)
        // awslambdaric tells the Runtime API nothing between the end of the module code and the end of the hooks
        // (restore/next): a hanging hook is an Init timeout there, as Lambda's own Init phase covers both.
        #expect(hang.exitCode == (client == .builtin ? 4 : 3), "\(hang)")
        #expect(hang.stderr.contains("Status: timeout"))
    }

    @Test(arguments: RuntimeClient.allCases)
    func afterRestoreHookFailureServesNoInvocation(client: RuntimeClient) throws {
        let (r, report) = try runJSON(["run", behaviours, "--env", "MODE=after_raise"] + client.flags)
        #expect(r.exitCode == 7, "\(r)")
        let failure = try #require(report.failure, "\(r)")
        #expect(failure.error?.type == .runtimeAfterRestoreError && failure.phase == .afterRestore)
        #expect(failure.message.contains("exited with code 65"), "\(failure)")
        #expect(report.copies.first?.invocations.isEmpty == true, "the invocation must not be served")
        let text = try CLI.run(["run", behaviours, "--env", "MODE=after_raise"] + client.flags)
        #expect(text.stderr.contains("RESTORE_REPORT") && text.stderr.contains("Error Type: Runtime.AfterRestoreError"))
        #expect(!text.stderr.contains("START RequestId"))
    }

    /// A broken control channel is a failure of the phase it happens in, with its REPORT line, never "bad input".
    @Test(arguments: [
        ("init_garbage", Int32(3), "INIT_REPORT", "Runtime.Unknown", "during Init, the runtime sent a malformed control message (not valid JSON): this is not json"),
        ("after_garbage", Int32(7), "RESTORE_REPORT", "Runtime.Unknown", "during the after-restore hooks, the runtime sent a malformed control message"),
        ("after_close_channel", Int32(7), "RESTORE_REPORT", "Runtime.ExitError", "the runtime exited with code 1 during the after-restore hooks"),
    ])
    func aBrokenControlChannelFailsItsPhase(mode: String, exitCode: Int32, reportLine: String, errorType: String,
                                             message: String) throws {
        let r = try CLI.run(["run", behaviours, "--env", "MODE=" + mode])
        #expect(r.exitCode == exitCode, "\(r)")
        let report = r.stderr.split(separator: "\n").first { $0.hasPrefix(reportLine) }.map(String.init) ?? ""
        #expect(report.contains("Status: error") && report.contains("Error Type: \(errorType)"), "\(r)")
        #expect(r.stderr.contains(message), "\(r)")
        #expect(!r.stderr.contains("START RequestId"), "no invocation is served")
    }

    @Test(arguments: RuntimeClient.allCases)
    func afterRestoreHangHitsTheRestoreLimit(client: RuntimeClient) throws {
        let r = try CLI.run(["run", behaviours, "--env", "MODE=after_hang", "--restore-timeout", "1"] + client.flags)
        #expect(r.exitCode == 7, "\(r)")
        #expect(r.stderr.contains("SnapStartTimeoutException"))
        #expect(r.stderr.contains("Status: timeout"))
    }

    @Test(arguments: RuntimeClient.allCases)
    func handlerErrorIsLambdasErrorJSON(client: RuntimeClient) throws {
        let r = try CLI.run(["run", behaviours, "--env", "MODE=handler_raise", "--event", "-"] + client.flags, stdin: #"{"k": 1}"#)
        #expect(r.exitCode == 8, "\(r)")
        let error = object(r.json)
        #expect(error["errorType"] as? String == "ValueError")
        #expect(error["errorMessage"] as? String == "bad event: {'k': 1}")
        #expect((error["requestId"] as? String)?.count == 36)
        #expect((error["stackTrace"] as? [String])?.last?.contains("raise ValueError") == true, "\(error)")
        #expect(r.stderr.contains("[ERROR] ValueError: bad event"))
    }

    @Test(arguments: RuntimeClient.allCases)
    func handlerTimeoutAndExit(client: RuntimeClient) throws {
        let t = try CLI.run(["run", behaviours, "--env", "MODE=handler_sleep", "--timeout", "1"] + client.flags)
        #expect(t.exitCode == 8, "\(t)")
        #expect(t.stderr.contains("Task timed out after 1.00 seconds"))
        #expect(object(t.json)["errorType"] as? String == "Sandbox.Timedout")
        let e = try CLI.run(["run", behaviours, "--env", "MODE=handler_exit"] + client.flags)
        #expect(e.exitCode == 8, "\(e)")
        #expect(object(e.json)["errorType"] as? String == "Runtime.ExitError")
    }

    @Test func badInputSaysHowToFixIt() throws {
        let missing = try CLI.run(["run", "/nonexistent/fn"])
        #expect(missing.exitCode == 1)
        #expect(missing.stderr.contains("does not exist"), "\(missing)")
        let reserved = try CLI.run(["run", behaviours, "--env", "AWS_REGION=x"])
        #expect(reserved.exitCode == 1)
        #expect(reserved.stderr.contains("reserved"), "\(reserved)")
    }
}
