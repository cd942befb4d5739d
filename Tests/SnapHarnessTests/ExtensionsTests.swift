import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// Lambda extensions under SnapStart, with the example layer (Examples/extensions/layer: an events extension in the
/// spirit of AWS's python-example-extension and a Telemetry API extension in the spirit of its telemetry sample),
/// under the built-in runtime and awslambdaric: registered at Init, parked in the snapshot, present in every
/// restored copy with the copy's own INVOKE events and telemetry, SHUTDOWN at the end; and the ways an extension
/// fails Init or the Shutdown phase, as Lambda reports them.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct ExtensionsTests {
    static let layer = CLI.example("extensions/layer")

    /// Returns what the example layer's extensions wrote to this copy's /tmp. It waits first, so that the telemetry
    /// pushed at the end of the previous invocation (buffering timeoutMs 25) has arrived.
    static let handler = """
        import json, signal, sys, time
        print("module code ran")
        def graceful(signum, frame):
            print("SIGTERM: graceful shutdown", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, graceful)
        def read(path):
            try:
                with open(path) as f:
                    return [json.loads(line) for line in f]
            except FileNotFoundError:
                return []
        def lambda_handler(event, context):
            time.sleep(0.3)
            print("handling", context.aws_request_id)
            return {"requestId": context.aws_request_id, "events": read("/tmp/extension-events.jsonl"),
                    "telemetry": read("/tmp/telemetry.jsonl")}
        """

    @Test(arguments: RuntimeClient.allCases)
    func extensionsRunInEveryRestoredCopy(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("ext")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: Self.handler)
        try leavesNothingBehind {
            let r = try CLI.run(["run", function, "--layer", Self.layer, "--restores", "2", "--invocations", "3"]
                                + client.flags)
            #expect(r.exitCode == 0, "\(r)")
            for line in ["EXTENSION\tName: events-extension\tState: Ready\tEvents: [INVOKE, SHUTDOWN]",
                         "EXTENSION\tName: telemetry-extension\tState: Ready\tEvents: [INVOKE, SHUTDOWN]",
                         "TELEMETRY\tName: telemetry-extension\tState: Subscribed\tTypes: [Platform, Function]",
                         "[copy 1] [events-extension] SHUTDOWN spindown", "[copy 2] [events-extension] SHUTDOWN spindown"] {
                #expect(r.stderr.contains(line), "\(line): \(r)")
            }
            if client == .builtin {
                // With extensions, the runtime gets SIGTERM at the Shutdown phase (awslambdaric's main thread waits
                // in C code for its next event there, where Python runs no signal handler).
                #expect(r.stderr.contains("[copy 1] SIGTERM: graceful shutdown") && r.stderr.contains("[copy 2] SIGTERM"), "\(r)")
            }
            let results = r.jsonLines.map { object($0) }
            #expect(results.count == 6, "\(r)")
            var initEvents: [[String]] = []
            var instances = Set<String>()
            for copy in [1, 2] {
                let mine = results.filter { $0["copy"] as? Int == copy }.map { object($0["result"]) }
                let ids = mine.compactMap { $0["requestId"] as? String }
                let last = try #require(mine.last, "\(r)")
                // INVOKE events: each of this copy's invocations (the extension got the last one while the handler
                // waited), with Lambda's fields, and nothing of the other copy's.
                let events = (last["events"] as? [Any] ?? []).map { object($0) }
                let invokes = events.map { object($0["event"]) }.filter { $0["eventType"] as? String == "INVOKE" }
                #expect(invokes.compactMap { $0["requestId"] as? String } == ids, "copy \(copy): \(events)")
                for invoke in invokes {
                    #expect((invoke["deadlineMs"] as? Int ?? 0) > 0 && (invoke["invokedFunctionArn"] as? String)?
                        .hasPrefix("arn:aws:lambda:us-east-1:000000000000:function:") == true, "\(invoke)")
                    #expect(object(invoke["tracing"])["type"] as? String == "X-Amzn-Trace-Id", "\(invoke)")
                }
                instances.formUnion(events.compactMap { $0["instance"] as? String })
                // Telemetry: the snapshot's Init events, then this copy's restore and its invocations.
                let telemetry = (last["telemetry"] as? [Any] ?? []).map { object($0) }
                let types = telemetry.compactMap { $0["type"] as? String }
                let restore = try #require(types.firstIndex(of: "platform.restoreStart"), "copy \(copy): \(types)")
                #expect(Array(types[restore...].prefix(3)) == ["platform.restoreStart", "platform.restoreRuntimeDone",
                                                                "platform.restoreReport"], "\(types)")
                let beforeRestore = Array(telemetry[..<restore])
                #expect(beforeRestore.first?["type"] as? String == "platform.initStart"
                        && beforeRestore.last?["type"] as? String == "platform.initReport", "copy \(copy): \(types)")
                let initStart = object(beforeRestore.first?["record"])
                #expect(initStart["initializationType"] as? String == "snap-start"
                        && (initStart["runtimeVersion"] as? String)?.hasPrefix("python:3.") == true, "\(initStart)")
                // ... and the copy receives them after its restore began, as on Lambda (DataDog's extension saw
                // "cold starts" hours long from them): they were held in the snapshot, not delivered at Init.
                let restoreTime = telemetry[restore]["time"] as? String ?? ""
                #expect(beforeRestore.allSatisfy { ($0["receivedAt"] as? String ?? "") >= restoreTime },
                        "copy \(copy) received Init's events after its restore at \(restoreTime): \(beforeRestore)")
                #expect(beforeRestore.contains { $0["type"] as? String == "function" && $0["record"] as? String == "module code ran" },
                        "Init's own log line is in the snapshot's telemetry: \(types)")
                initEvents.append(beforeRestore.map { "\($0["type"] ?? "") \($0["time"] ?? "")" })
                #expect(types.filter { $0 == "platform.start" }.count == 3 && types.filter { $0 == "platform.report" }.count == 2,
                        "the copy's three starts and its two earlier invocations' reports: \(types)")
                let handling = telemetry.compactMap { $0["record"] as? String }.filter { $0.hasPrefix("handling ") }
                #expect(handling == ids.prefix(2).map { "handling \($0)" }, "the copy's own function lines: \(handling)")
            }
            #expect(initEvents.count == 2 && initEvents[0] == initEvents[1],
                    "both copies receive the snapshot's Init events, with the snapshot's times: \(initEvents)")
            #expect(instances.count == 1, "the extension's state made at Init is the snapshot's in every copy: \(instances)")
        }
    }

    /// An image's own /opt/extensions (python-extensions: AWS's base image shape with the events extension in it).
    @Test(.enabled(if: testImagesBuilt, "needs the test images (scripts/test-images.sh, run by `make test`)"))
    func anImagesExtensionsRunInEveryCopy() throws {
        try leavesNothingBehind {
            let r = try CLI.run(["run", "--image", testImages + "/layout:python-extensions", "--restores", "2"])
            #expect(r.exitCode == 0, "\(r)")
            #expect(r.stderr.contains("EXTENSION\tName: events-extension\tState: Ready\tEvents: [INVOKE, SHUTDOWN]"), "\(r)")
            for copy in [1, 2] {
                #expect(r.stderr.contains("[copy \(copy)] [events-extension] INVOKE ")
                        && r.stderr.contains("[copy \(copy)] [events-extension] SHUTDOWN spindown"), "copy \(copy): \(r)")
            }
        }
    }

    /// A layer whose only extension is `script`, named `name`.
    static func layer(_ dir: String, _ name: String, _ script: String, mode: mode_t = 0o755) throws -> String {
        let folder = dir + "/layer-" + name
        try FileManager.default.createDirectory(atPath: folder + "/extensions", withIntermediateDirectories: true)
        try script.write(toFile: folder + "/extensions/" + name, atomically: true, encoding: .utf8)
        for path in [folder, folder + "/extensions"] { chmod(path, 0o755) }
        chmod(folder + "/extensions/" + name, mode)
        return folder
    }

    static let register = """
        import json, os, sys, time, urllib.request
        API = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
        def call(path, headers, body=None, method="GET"):
            request = urllib.request.Request(API + path, data=body, headers=headers, method=method)
            with urllib.request.urlopen(request) as response:
                return response.headers, json.loads(response.read() or b"{}")
        headers, _ = call("/register", {"Lambda-Extension-Name": os.path.basename(__file__)},
                          json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(), "POST")
        ID = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}

        """

    @Test(arguments: RuntimeClient.allCases)
    func anExtensionThatFailsInitFailsItAsOnLambda(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("ext-fail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: "def lambda_handler(event, context):\n    return 1\n")
        let cases: [(layer: String, type: String, says: String)] = [
            (try Self.layer(dir, "crashes", "#!/bin/sh\necho 'crashes: no license key'\nexit 3\n"), "Extension.Crash",
             "the extension crashes exited with code 3"),
            (try Self.layer(dir, "quits", "#!/usr/bin/env python3\n" + Self.register + "print('quitting after register')\n"),
             "Extension.Crash", "the extension quits exited with code 0"),
            (try Self.layer(dir, "reports", "#!/usr/bin/env python3\n" + Self.register + """
                call("/init/error", dict(ID, **{"Lambda-Extension-Function-Error-Type": "Extension.ConfigMissing"}),
                     b'{"errorMessage": "no key", "errorType": "Extension.ConfigMissing"}', "POST")
                time.sleep(60)
                """), "Extension.InitError", "the extension reports reported Extension.ConfigMissing through init/error"),
            (try Self.layer(dir, "plain", "#!/bin/sh\n", mode: 0o644), "Extension.LaunchError",
             "Couldn't start the extension /opt/extensions/plain: Permission denied"),
        ]
        try leavesNothingBehind {
            for c in cases {
                let r = try CLI.run(["run", function, "--layer", c.layer] + client.flags)
                #expect(r.exitCode == 3, "\(c.type): \(r)")
                #expect(r.stderr.contains("Status: error\tError Type: \(c.type)") && r.stderr.contains(c.says), "\(c.type): \(r)")
            }
            let crash = try CLI.run(["run", function, "--layer", cases[0].layer] + client.flags)
            #expect(crash.stderr.contains("crashes: no license key"), "the extension's output is in the function's log: \(crash)")
        }
    }

    /// An extension that registers and never asks for its next event holds Init until its limit; the log says which.
    @Test func anExtensionThatNeverCallsNextTimesInitOut() throws {
        let dir = TestEnvironment.scratchDirectory("ext-next")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: "def lambda_handler(event, context):\n    return 1\n")
        let layer = try Self.layer(dir, "sleepy", "#!/usr/bin/env python3\n" + Self.register + "time.sleep(3600)\n")
        try leavesNothingBehind {
            let r = try CLI.run(["run", function, "--layer", layer, "--init-timeout", "3"])
            #expect(r.exitCode == 3, "\(r)")
            #expect(r.stderr.contains("Init is waiting for the extension(s) sleepy to call event/next"), "\(r)")
            #expect(r.stderr.contains("Phase: init\tStatus: timeout"), "\(r)")
        }
    }

    /// An extension that gets SHUTDOWN and never finishes is killed at Lambda's 2,000 ms, in every copy, and the
    /// run ends without it.
    @Test func aShutdownPastTheDeadlineIsKilled() throws {
        let dir = TestEnvironment.scratchDirectory("ext-shutdown")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: "def lambda_handler(event, context):\n    return 1\n")
        let layer = try Self.layer(dir, "stubborn", "#!/usr/bin/env python3\n" + Self.register + """
            import signal
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                _, event = call("/event/next", ID)
                print("stubborn got", event["eventType"], flush=True)
                if event["eventType"] == "SHUTDOWN":
                    time.sleep(3600)
            """)
        try leavesNothingBehind {
            let started = Date()
            let r = try CLI.run(["run", function, "--layer", layer, "--restores", "2"])
            let took = Date().timeIntervalSince(started)
            #expect(r.exitCode == 0, "\(r)")
            #expect(r.stderr.contains("[copy 1] stubborn got SHUTDOWN") && r.stderr.contains("[copy 2] stubborn got SHUTDOWN"), "\(r)")
            #expect(took >= 2, "the Shutdown phase waited for the extension up to its deadline (\(took) s)")
        }
    }

    /// serve retires an idle environment as Lambda does: its extensions get SHUTDOWN first.
    @Test func serveShutsIdleEnvironmentsDownWithTheirExtensions() throws {
        let dir = TestEnvironment.scratchDirectory("ext-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, named: "served", source: Self.handler)
        try leavesNothingBehind {
            let server = try ServeTests.Server([function, "--layer", Self.layer, "--idle-timeout", "1s"])
            let answer = HostFootprint.shell("curl -s -X POST \(server.base)/2015-03-31/functions/served/invocations -d '{}'")
            #expect(answer.contains("\"requestId\""), "\(answer)")
            let deadline = Date().addingTimeInterval(15)
            while !server.stderr.contains("[events-extension] SHUTDOWN spindown") && Date() < deadline { usleep(50_000) }
            #expect(server.stderr.contains("[copy 1] [events-extension] SHUTDOWN spindown"), "\(server.stderr.snapshot)")
            #expect(server.stop() == 130)
        }
    }
}
