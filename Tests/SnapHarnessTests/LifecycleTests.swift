import Foundation
import Glibc
import Testing

/// The SnapStart lifecycle end to end through the real CLI, real CRIU and real snapshot-restore-py.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct LifecycleTests {
    let behaviours = CLI.fixture("behaviours")


    @Test(arguments: RuntimeClient.allCases)
    func hooksRunInLambdaOrderWithTheirArguments(client: RuntimeClient) throws {
        let r = try CLI.run(["run", behaviours] + client.flags)
        #expect(r.exitCode == 0, "\(r)")
        let calls = object(r.json)["calls"] as? [String]
        // before-snapshot: reverse registration order; after-restore: registration order, args and kwargs passed.
        #expect(calls == ["before:second", "before:first:a!", "after:one", "after:two:7:8"], "\(r)")
        #expect(object(r.json)["runtime_client"] as? String == client.rawValue, "the function runs under \(client)")
        for marker in ["INIT_START", "INIT_REPORT Init Duration:", "Phase: init\tStatus: success", "RESTORE_START",
                       "RESTORE_REPORT Restore Duration:", "START RequestId:", "END RequestId:", "REPORT RequestId:",
                       "Billed Restore Duration:"] {
            #expect(r.stderr.contains(marker), "missing \(marker) in\n\(r.stderr)")
        }
    }

    @Test func helloExampleShowsEveryPhase() throws {
        let r = try CLI.run(["run", CLI.example("hello")])
        #expect(r.exitCode == 0, "\(r)")
        let result = object(r.json)
        #expect(result["hooks"] as? [String] == ["before_snapshot:warm_cache(greetings,3)", "before_snapshot:close_resources",
                                                  "after_restore:refresh_identity", "after_restore:log_gap(since-init)"])
        #expect(result["initialization_type"] as? String == "snap-start")
    }

    @Test(arguments: RuntimeClient.allCases)
    func environmentAndContextMatchLambda(client: RuntimeClient) throws {
        let scratch = TestEnvironment.scratchDirectory("env")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let envFile = scratch + "/vars.env"
        try "# comment\nFROM_FILE=\"quoted value\"\nEXTRA=overridden\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", behaviours, "--env", "EXTRA=from-flag", "--env-file", envFile, "--memory", "256",
                             "--timeout", "5", "--function-name", "orders", "--region", "eu-west-1"] + client.flags,
                            environment: ["SNAPHARNESS_TEST_LEAK": "supervisor-only"])
        #expect(r.exitCode == 0, "\(r)")
        let result = object(r.json)
        let env = object(result["env"])
        #expect(env["AWS_LAMBDA_INITIALIZATION_TYPE"] as? String == "snap-start")
        #expect(env["AWS_LAMBDA_FUNCTION_NAME"] as? String == "orders")
        #expect(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] as? String == "256")
        #expect(env["AWS_REGION"] as? String == "eu-west-1")
        #expect(env["LAMBDA_TASK_ROOT"] as? String == "/var/task")
        #expect(env["_HANDLER"] as? String == "lambda_function.lambda_handler")
        #expect(env["TZ"] as? String == ":/etc/localtime")
        #expect(env["AWS_LAMBDA_LOG_GROUP_NAME"] is NSNull && env["AWS_LAMBDA_LOG_STREAM_NAME"] is NSNull,
                "SnapStart functions get no log group or stream variables")
        #expect(env["EXTRA"] as? String == "from-flag", "--env wins over --env-file")
        #expect(env["FROM_FILE"] as? String == "quoted value")
        #expect(env["SNAPHARNESS_TEST_LEAK"] is NSNull, "the supervisor's environment leaked into the function")
        let context = object(result["context"])
        #expect(context["function_name"] as? String == "orders")
        #expect(context["memory_limit_in_mb"] as? String == "256")
        #expect(context["function_version"] as? String == "$LATEST")
        #expect((context["invoked_function_arn"] as? String)?.hasPrefix("arn:aws:lambda:eu-west-1:") == true)
        #expect(context["log_group_name"] is NSNull && context["log_stream_name"] is NSNull, "\(context)")
        let remaining = context["remaining_ms"] as? Int ?? 0
        #expect(remaining > 3000 && remaining <= 5000, "remaining time \(remaining)")
        let requestId = context["aws_request_id"] as? String ?? ""
        #expect(r.stderr.contains("START RequestId: \(requestId) Version: $LATEST"))
        #expect(r.stderr.contains("Memory Size: 256 MB"))
    }

    @Test func eventFromFileAndStdin() throws {
        let dir = TestEnvironment.scratchDirectory("event")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"name": "file", "n": [1, 2]}"#.write(toFile: dir + "/e.json", atomically: true, encoding: .utf8)
        let fromFile = try CLI.run(["run", behaviours, "--event", dir + "/e.json"])
        #expect(object(object(fromFile.json)["event"])["name"] as? String == "file", "\(fromFile)")
        let fromStdin = try CLI.run(["run", behaviours, "--event", "-"], stdin: #"{"name": "stdin"}"#)
        #expect(object(object(fromStdin.json)["event"])["name"] as? String == "stdin", "\(fromStdin)")
        try "{not json".write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["run", behaviours, "--event", dir + "/bad.json"])
        #expect(bad.exitCode == 1)
        #expect(bad.stderr.contains("not valid JSON"), "\(bad)")
    }

    /// What a function can observe of the client that runs it, row by row of the table in the shared notes
    /// (built-in runtime vs awslambdaric 4.2.2): the same under both, as on Lambda.
    @Test(arguments: RuntimeClient.allCases)
    func theFunctionSeesWhatLambdasRuntimeShowsIt(client: RuntimeClient) throws {
        let r = try CLI.run(["run", CLI.fixture("parity")] + client.flags)
        #expect(r.exitCode == 0, "\(r)")
        let seen = object(r.json)
        #expect(seen["pid_is_1"] as? Bool == false, "the runtime is not pid 1: \(seen)")
        #expect(seen["blocked_signals"] as? [String] == [] && seen["thread_blocked_signals"] as? [String] == [],
                "no signal blocked in the handler or its threads: \(seen)")
        #expect(seen["usr1"] as? String == "0" && seen["term"] as? String == "0", "default dispositions: \(seen)")
        #expect(seen["stdout_write_returns"] as? String == "None", "stdout wrapped unbuffered: \(seen)")
        #expect(seen["identity"] as? String == "CognitoIdentity" && seen["client_context"] as? String == "None", "\(seen)")
        #expect(seen["has"] as? [String] == ["log", "tenant_id", "w3c"], "\(seen)")
        #expect(seen["memory_limit_type"] as? String == "str", "\(seen)")
        #expect(seen["trace_id_set"] as? Bool == true, "_X_AMZN_TRACE_ID from Lambda-Runtime-Trace-Id: \(seen)")
        let opt = seen["opt_on_path"] as? [String] ?? []
        #expect(opt.count == 2 && opt.last == "/opt/python" && opt.first?.hasSuffix("/site-packages") == true,
                "the layers' folders on sys.path: \(seen)")
        #expect(seen["task_root_first"] as? Bool == true && seen["cwd"] as? String == "/var/task", "\(seen)")
        #expect(seen["pth_processed"] as? Bool == true, "the folder's .pth files are processed: \(seen)")
        #expect(seen["pythonpath"] as? String == "/var/runtime" && seen["main_module"] as? String == "__main__", "\(seen)")
        #expect(!r.stderr.contains("atexit handler ran"), "the environment is killed, no exit handlers: \(r)")
    }

    @Test(arguments: RuntimeClient.allCases)
    func concurrentCopiesShareInitStateAndEachServe(client: RuntimeClient) throws {
        let r = try CLI.run(["run", CLI.example("hello"), "--restores", "3", "--invocations", "2"] + client.flags)
        #expect(r.exitCode == 0, "\(r)")
        let lines = r.jsonLines.map(object)
        #expect(lines.count == 6, "\(r)")
        let copies = Set(lines.compactMap { $0["copy"] as? Int })
        #expect(copies == [1, 2, 3])
        let results = lines.map { object($0["result"]) }
        #expect(Set(results.compactMap { $0["init_id"] as? String }).count == 1, "init state is the snapshot's")
        #expect(Set(results.compactMap { $0["restore_id"] as? String }).count == 3, "after-restore hooks ran per copy")
        for n in 1...3 { #expect(r.stderr.contains("[copy \(n)] RESTORE_REPORT Restore Duration:")) }
    }

    @Test(arguments: RuntimeClient.allCases)
    func snapshotThenRestoreFromSeparateProcesses(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("snap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/hello-snap"
        let s = try CLI.run(["snapshot", CLI.example("hello"), "-o", snap] + client.flags)
        #expect(s.exitCode == 0, "\(s)")
        #expect(s.stderr.contains("INIT_REPORT"))
        #expect(!s.stderr.contains("RESTORE_START"))
        let manifest = object(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: snap + "/manifest.json"))))
        let function = object(manifest["function"])
        #expect(function["handler"] as? String == "lambda_function.lambda_handler")
        #expect((manifest["imageBytes"] as? Int ?? 0) > 0)
        #expect(manifest["criuVersion"] as? String != nil)
        #expect(function["runtimeClient"] as? String == (client == .builtin ? nil : client.rawValue), "\(function)")
        #expect(manifest["tcpEstablished"] as? Bool == (client == .builtin ? nil : true), "\(manifest)")
        var st = stat()
        #expect(stat(snap + "/manifest.json", &st) == 0 && st.st_mode & 0o777 == 0o600)

        var initIds: Set<String> = []
        for _ in 0..<2 {
            let r = try CLI.run(["restore", snap])
            #expect(r.exitCode == 0, "\(r)")
            #expect(!r.stderr.contains("INIT_START"), "a restore must not run Init again")
            initIds.insert(object(r.json)["init_id"] as? String ?? "")
        }
        #expect(initIds.count == 1)
        let json = try CLI.run(["restore", snap, "--count", "2", "--json"])
        #expect(json.report?.copies.count == 2, "\(json)")
    }

    /// `inspect` shows what a snapshot holds (variable names, never values) and whether it can be restored here.
    @Test func inspectShowsWhatASnapshotHolds() throws {
        let dir = TestEnvironment.scratchDirectory("inspect")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        let made = try CLI.run(["snapshot", behaviours, "-o", snap, "--env", "API_KEY=s3cr3t-value", "--memory", "256"])
        #expect(made.exitCode == 0, "\(made)")
        let r = try CLI.run(["inspect", snap, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        let summary = object(r.json)
        #expect(summary["function"] as? String == "behaviours" && summary["memorySizeMB"] as? Int == 256, "\(summary)")
        #expect(summary["handler"] as? String == "lambda_function.lambda_handler" && summary["restorableHere"] as? Bool == true)
        #expect((summary["beforeSnapshotHooks"] as? [String])?.count == 2 && (summary["afterRestoreHooks"] as? [String])?.count == 2)
        #expect((summary["environmentVariables"] as? [String])?.contains("API_KEY") == true, "\(summary)")
        #expect(!r.stdout.contains("s3cr3t-value"), "values never shown: they may be secrets")
        let text = try CLI.run(["inspect", snap])
        #expect(text.exitCode == 0 && text.stdout.contains("restorable   yes"), "\(text)")
        #expect(!text.stdout.contains("s3cr3t-value"))
        // A snapshot whose interpreter is gone cannot be restored here: inspect says so, with exit 1.
        let manifestPath = snap + "/manifest.json"
        var manifest = object(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))))
        var function = object(manifest["function"]), filesystem = object(function["filesystem"])
        try #require(filesystem["language"] is String, "the manifest names the interpreter's installation")
        filesystem["language"] = "/nonexistent/python"
        function["filesystem"] = filesystem
        manifest["function"] = function
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        chmod(manifestPath, 0o600)
        let gone = try CLI.run(["inspect", snap])
        #expect(gone.exitCode == 1 && gone.stdout.contains("restorable   no:") && gone.stdout.contains("missing"), "\(gone)")
    }

    @Test func manifestRecordsTheEnvironmentTheFunctionGot() throws {
        let dir = TestEnvironment.scratchDirectory("env-manifest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try CLI.run(["snapshot", behaviours, "-o", dir + "/snap"]).exitCode == 0)
        let r = try CLI.run(["restore", dir + "/snap"])
        #expect(r.exitCode == 0, "\(r)")
        let manifest = object(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/snap/manifest.json"))))
        let recorded = object(object(manifest["function"])["environment"])
        let seen = object(object(r.json)["env"])
        for key in ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE", "LAMBDA_TASK_ROOT", "_HANDLER"] {
            #expect(seen[key] as? String != nil && recorded[key] as? String == seen[key] as? String, "\(key)")
        }
        #expect(recorded["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == nil, "per-environment tokens stay out of the manifest")
    }

    @Test func restoreOfPartialOrForeignFolderIsAClearError() throws {
        let dir = TestEnvironment.scratchDirectory("foreign")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["restore", dir])
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("not a usable snapshot") && r.stderr.contains("manifest.json"), "\(r)")
        let missing = try CLI.run(["restore", dir + "/nope"])
        #expect(missing.exitCode == 1)
        #expect(missing.stderr.contains("does not exist"), "\(missing)")
    }
}
