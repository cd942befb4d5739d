import Foundation
import SnapHarnessEngine
import Glibc
import Synchronization
import Testing

/// `snapharness serve` with real clients: boto3's `lambda` client (from the runtime's library folder), curl, and a load
/// of plain HTTP requests. Every server is stopped with SIGINT and must exit 130 leaving nothing behind.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct ServeTests {
    let function = CLI.fixture("serve_function")

    /// A running `snapharness serve`, stopped by `stop()`.
    final class Server {
        let process = Process()
        let out = Pipe(), err = Pipe()
        let stdout: CLI.PipeReader, stderr: CLI.PipeReader
        var base = ""

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = ["serve"] + arguments + ["--port", "0"]
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            stdout = CLI.PipeReader(out.fileHandleForReading)
            stderr = CLI.PipeReader(err.fileHandleForReading)
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && process.isRunning {
                if let range = stdout.snapshot.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                    base = String(stdout.snapshot[range])
                    return
                }
                usleep(20_000)
            }
            throw ServeError.notReady(stderr.snapshot)
        }

        /// SIGINT, then the exit code (nil if it did not stop within 30 s).
        func stop() -> Int32? {
            kill(process.processIdentifier, SIGINT)
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            return CLI.stopIfHung(process, ["serve"], 30)
        }

        var status: [String: Any] {
            let r = HostFootprint.shell("curl -s \(base)/snapharness/environments")
            return (try? JSONSerialization.jsonObject(with: Data(r.utf8))) as? [String: Any] ?? [:]
        }
    }

    enum ServeError: Error { case notReady(String) }

    func client(_ base: String, _ name: String, _ scenario: String) throws -> [String: Any] {
        let r = HostFootprint.shell("PYTHONPATH='\(TestEnvironment.repoRoot)/.deps/python' python3 "
                                    + "'\(CLI.fixture("serve_client/invoke.py"))' \(base) \(name) \(scenario) 2>&1")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.utf8)) as? [String: Any], "client said: \(r)")
    }

    @Test func boto3SeesLambdasInvokeAPIAndScaling() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let seen = try client(server.base, "serve_function", "lifecycle")
            let plain = object(seen["plain"])
            #expect(plain["status"] as? Int == 200 && plain["version"] as? String == "$LATEST", "\(seen)")
            let concurrent = (seen["concurrent"] as? [Any] ?? []).map { object(object($0)["payload"]) }
            #expect(concurrent.count == 4, "\(seen)")
            #expect(Set(concurrent.compactMap { $0["init_id"] as? String }).count == 1, "one snapshot's Init state")
            #expect(Set(concurrent.compactMap { $0["restore_id"] as? String }).count == 4,
                    "4 concurrent requests, 4 environments restored: \(concurrent)")
            let sequential = (seen["sequential"] as? [Any] ?? []).map { object(object($0)["payload"]) }
            #expect(Set(sequential.compactMap { $0["restore_id"] as? String }).count == 1, "an idle environment is reused")
            let error = object(seen["error"])
            #expect(error["status"] as? Int == 200 && error["functionError"] as? String == "Unhandled", "\(error)")
            #expect(object(error["payload"])["errorType"] as? String == "ValueError", "\(error)")
            let log = object(seen["tail"])["log"] as? String ?? ""
            #expect(log.hasPrefix("START RequestId:") && log.contains("handling") && log.contains("REPORT RequestId:"), "\(log)")
            #expect(object(object(object(seen["clientContext"])["payload"])["custom"])["tenant"] as? String == "t1",
                    "ClientContext reaches context.client_context: \(seen)")
            #expect(seen["event"] as? Int == 202 && seen["dryrun"] as? Int == 204, "\(seen)")
            #expect(seen["missing"] as? String == "ResourceNotFoundException", "\(seen)")
            #expect(seen["tooLarge"] as? String == "RequestTooLargeException", "\(seen)")
            let status = server.status
            #expect(status["restores"] as? Int == 4, "\(status)")
            #expect(server.stop() == 130, "SIGINT: exit 130 once every environment is down: \(server.stderr.snapshot)")
            #expect(server.stderr.snapshot.contains("Restore Duration:"), "the environments' log on stderr")
        }
    }

    @Test func pastMaxConcurrencyARequestIsThrottled() throws {
        try leavesNothingBehind {
            let server = try Server([function, "--max-concurrency", "2"])
            let calls = (try client(server.base, "serve_function", "throttle")["calls"] as? [Any] ?? []).map(object)
            #expect(calls.filter { $0["throttled"] as? Bool == true }.count == 1, "\(calls)")
            #expect(calls.filter { $0["status"] as? Int == 200 }.count == 2, "\(calls)")
            #expect(server.stop() == 130)
        }
    }

    @Test func curlOnRIEsPathAndFreshEnvironments() throws {
        try leavesNothingBehind {
            let server = try Server([function, "--fresh"])
            let url = server.base + "/2015-03-31/functions/function/invocations"
            let first = HostFootprint.shell("curl -s -X POST \(url) -d '{\"n\": 1}'")
            let second = HostFootprint.shell("curl -s -X POST \(url) -d '{\"n\": 2}'")
            let ids = [first, second].map { object(try? JSONSerialization.jsonObject(with: Data($0.utf8)))["restore_id"] as? String }
            #expect(ids.allSatisfy { $0 != nil } && ids[0] != ids[1], "--fresh: every request a new environment: \(first) \(second)")
            let status = server.status
            #expect(status["restores"] as? Int == 2 && (status["environments"] as? [Any])?.isEmpty == true, "\(status)")
            let bad = HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(url) -d '{not json'")
            #expect(bad == "400", "invalid JSON is refused: \(bad)")
            #expect(server.stop() == 130)
        }
    }

    /// Every FunctionName form Lambda accepts (name, name:$LATEST, name:VERSION, partial and full ARNs, ?Qualifier=)
    /// reaches the function; an alias, which a local snapshot has none of, is 404; a body shorter than its
    /// Content-Length, or broken chunked framing, is a malformed request (400), not a too-large one (413) or a 200.
    /// Issue 21, item 6.
    @Test func functionNamesAndQualifiersAsLambdaTakesThem() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let name = "serve_function"
            func status(_ path: String) -> String {
                HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST "
                                    + "'\(server.base)/2015-03-31/functions/\(path)' -d '{}'")
            }
            for path in ["\(name)/invocations", "\(name):%24LATEST/invocations", "\(name):7/invocations",
                         "000000000000:function:\(name)/invocations",
                         "arn:aws:lambda:us-east-1:000000000000:function:\(name)/invocations",
                         "arn:aws:lambda:us-east-1:000000000000:function:\(name):%24LATEST/invocations",
                         "\(name)/invocations?Qualifier=7", "\(name)/invocations?Qualifier=%24LATEST"] {
                #expect(status(path) == "200", "\(path)")
            }
            for path in ["\(name):live/invocations", "\(name)/invocations?Qualifier=live", "other/invocations",
                         "arn:aws:lambda:us-east-1:000000000000:function:other/invocations"] {
                #expect(status(path) == "404", "\(path)")
            }
            let port = server.base.split(separator: ":").last.map(String.init) ?? "0"
            // Raw requests (curl would not send these), each answered before the connection's other half closes.
            func rawStatus(_ headers: String, _ body: String) -> String {
                HostFootprint.shell("""
                    python3 -c 'import socket
                    s = socket.create_connection(("127.0.0.1", \(port)))
                    s.sendall(b"POST /2015-03-31/functions/\(name)/invocations HTTP/1.1\\r\\nHost: x\\r\\n\(headers)\\r\\n\\r\\n\(body)")
                    s.shutdown(socket.SHUT_WR)
                    print(s.recv(200).split(b" ")[1].decode())'
                    """).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let short = rawStatus("Content-Length: 100", "{}")
            #expect(short == "400", "a body shorter than its Content-Length: \(short)")
            let chunked = rawStatus("Transfer-Encoding: chunked", "5\\r\\n{}\\r\\n0\\r\\n\\r\\n")
            #expect(chunked == "400", "broken chunked framing: \(chunked)")
            #expect(server.stop() == 130)
        }
    }

    /// An idle environment whose processes were killed (from outside, or by the OOM killer) is replaced: the next
    /// request is answered by a new one, never fails for it. Issue 21, item 6.
    @Test func anIdleEnvironmentThatDiedIsReplacedNotUsed() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let url = server.base + "/2015-03-31/functions/function/invocations"
            let first = HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(url) -d '{}'")
            #expect(first == "200")
            let environment = ProcFile.descendants(of: server.process.processIdentifier)
                .filter { ProcFile.commandLine($0).contains("snapharness") && !ProcFile.commandLine($0).contains("pasta") }
            #expect(!environment.isEmpty, "the idle environment's processes")
            for pid in environment { kill(pid, SIGKILL) }
            usleep(200_000)
            let second = HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(url) -d '{}'")
            #expect(second == "200", "answered by a new environment: \(second)")
            #expect(server.status["restores"] as? Int == 2, "\(server.status)")
            #expect(server.stop() == 130)
        }
    }

    /// The snapshot served is taken again at the same path: a restore used to hang 10 s (new images, old manifest)
    /// or mix the two. Now every restore checks the snapshot is still the one opened, and says so at once.
    @Test func aSnapshotReplacedOnDiskIsNeverMixed() throws {
        let dir = TestEnvironment.scratchDirectory("serve-replaced")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        try #require(try CLI.run(["snapshot", function, "-o", snap]).exitCode == 0)
        try leavesNothingBehind {
            let server = try Server([snap, "--fresh"])
            let url = server.base + "/2015-03-31/functions/function/invocations"
            #expect(HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(url) -d '{}'") == "200")
            try #require(try CLI.run(["snapshot", function, "-o", snap]).exitCode == 0)
            let start = Date()
            let answer = HostFootprint.shell("curl -s -X POST \(url) -d '{}'")
            #expect(Date().timeIntervalSince(start) < 5, "refused at once, not after the restore limit")
            #expect(answer.contains("changed on disk"), "\(answer)")
            #expect(server.stop() == 130)
        }
    }

    /// A container-image function served: two concurrent requests, two environments restored from the image's
    /// snapshot, both with Init's values; nothing left once it stops.
    @Test(.enabled(if: testImagesBuilt, "needs the test images (`make test` builds them: scripts/test-images.sh)"))
    func aContainerImageFunctionIsServed() throws {
        try leavesNothingBehind {
            let server = try Server(["--image", testImages + "/python-base.oci.tar"])
            let url = server.base + "/2015-03-31/functions/python-base/invocations"
            // Two at once, from threads (a shell's `wait` would hang: Foundation's children inherit blocked signals).
            let answers = HostFootprint.shell("""
                python3 -c 'import concurrent.futures as f, urllib.request as u
                post = lambda _: u.urlopen(u.Request("\(url)", data=b"{}")).read().decode()
                print("\\n".join(f.ThreadPoolExecutor(2).map(post, range(2))))'
                """)
            let results = answers.split(separator: "\n").map { object(try? JSONSerialization.jsonObject(with: Data($0.utf8))) }
            #expect(results.count == 2 && results.allSatisfy { $0["image"] as? String == "python-base" }, "\(answers)")
            #expect(Set(results.compactMap { $0["init_id"] as? String }).count == 1, "Init's values in both: \(answers)")
            #expect(server.status["restores"] as? Int == 2, "\(server.status)")
            #expect(server.stop() == 130)
        }
    }

    /// A timeout is Lambda's error, never an empty 200; an idle environment goes after --idle-timeout; SIGTERM
    /// stops the server with 143.
    /// A copy whose after-restore hooks fail gets Lambda's SnapStart errors: SnapStartException (400) when a hook
    /// raises, SnapStartTimeoutException (408) when runtime load and hooks pass the restore limit.
    @Test(arguments: [("after_raise", "400", "SnapStartException"), ("after_hang", "408", "SnapStartTimeoutException")])
    func aFailedRestoreGetsLambdasSnapStartError(mode: String, status: String, type: String) throws {
        try leavesNothingBehind {
            let server = try Server([CLI.fixture("behaviours"), "--env", "MODE=\(mode)", "--restore-timeout", "1"])
            defer { #expect(server.stop() == 130) }
            let r = HostFootprint.shell("curl -s -D - -X POST \(server.base)/2015-03-31/functions/behaviours/invocations -d '{}'")
            #expect(r.hasPrefix("HTTP/1.1 \(status)"), "\(r)")
            #expect(r.lowercased().contains("x-amzn-errortype: \(type.lowercased())"), "\(r)")
        }
    }

    @Test func timeoutsIdleEnvironmentsAndSIGTERM() throws {
        try leavesNothingBehind {
            let server = try Server([function, "--timeout", "1", "--idle-timeout", "1s"])
            let url = server.base + "/2015-03-31/functions/serve_function/invocations"
            let slow = HostFootprint.shell("curl -s -D - -X POST \(url) -d '{\"sleep\": 5}'")
            #expect(slow.hasPrefix("HTTP/1.1 200") && slow.lowercased().contains("x-amz-function-error: unhandled"), "\(slow)")
            #expect(slow.contains("Task timed out after 1.00 seconds"), "\(slow)")
            _ = HostFootprint.shell("curl -s -X POST \(url) -d '{}'")
            #expect((server.status["environments"] as? [Any])?.count == 1, "\(server.status)")
            let deadline = Date().addingTimeInterval(10)
            while (server.status["environments"] as? [Any])?.isEmpty != true && Date() < deadline { usleep(200_000) }
            #expect((server.status["environments"] as? [Any])?.isEmpty == true, "idle past --idle-timeout: \(server.status)")
            kill(server.process.processIdentifier, SIGTERM)
            let stopped = Date().addingTimeInterval(30)
            while server.process.isRunning && Date() < stopped { usleep(20_000) }
            #expect(CLI.stopIfHung(server.process, ["serve"], 30) == 143)
        }
    }

    /// Between invocations an environment is frozen, as on Lambda: a background thread started at Init makes no
    /// progress while the environment is idle (a thread ticking every 10 ms would tick ~100 times in the second).
    @Test func idleEnvironmentsAreFrozen() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let url = server.base + "/2015-03-31/functions/serve_function/invocations"
            func ticks() -> Int {
                object(try? JSONSerialization.jsonObject(with: Data(HostFootprint.shell("curl -s -X POST \(url) -d '{}'").utf8)))["ticks"] as? Int ?? -1
            }
            let before = ticks()
            usleep(1_000_000)
            let after = ticks()
            #expect(before >= 0 && after - before < 30, "ticks while idle: \(before) -> \(after)")
            #expect(server.stop() == 130)
        }
    }

    /// serve keeps networks ready for the restores to come, and makes the ones a restore took once no restore runs
    /// (pasta's start-up beside a restore slowed it): after a request, the pool is full again.
    @Test func networksTakenByARestoreAreMadeAgainAfterIt() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let pid = server.process.processIdentifier
            func networks() -> Int {
                ProcFile.entries("/run/snapharness").filter { $0.hasPrefix("net-\(pid)-") }.count
            }
            func waitFor(_ count: Int) -> Int {
                let deadline = Date().addingTimeInterval(20)
                while networks() != count && Date() < deadline { usleep(50_000) }
                return networks()
            }
            #expect(waitFor(8) == 8, "8 networks ready before any request")
            let answer = HostFootprint.shell("curl -s -X POST \(server.base)/2015-03-31/functions/serve_function/invocations -d '{}'")
            #expect(answer.contains("ticks"), "\(answer)")
            #expect(waitFor(9) == 9, "the environment's network and 8 ready again")
            #expect(server.stop() == 130)
        }
    }

    /// CRIU stops every restored task on a hardware breakpoint (a perf event); without one held by the supervisor,
    /// a restore with no other in the second before it waits an RCU grace period for the kernel's perf hooks
    /// (`PerfSchedKey`). serve restores on demand, so it holds one dummy perf event for its whole life.
    @Test func theSupervisorHoldsAPerfEventSoRestoresSkipTheGracePeriod() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let pid = server.process.processIdentifier
            var links: [String] = []
            for _ in 0..<100 { // opened on a thread, which waits for the grace period once
                links = ProcFile.entries("/proc/\(pid)/fd").compactMap {
                    try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
                }
                if links.contains("anon_inode:[perf_event]") { break }
                usleep(20_000)
            }
            #expect(links.contains("anon_inode:[perf_event]"), "serve's descriptors: \(links)")
            #expect(server.stop() == 130)
        }
    }

    /// Where the machine has a cgroup freezer, the idle environment is frozen by it, as Lambda freezes a whole
    /// environment: no SIGSTOP its processes or their parent could see. A frozen v1 task ignores even SIGKILL, so a
    /// serve killed while its environment is frozen leaves it frozen: the next snapharness thaws and removes it.
    @Test(.enabled(if: EnvironmentCgroup.freezes, "needs a cgroup freezer"))
    func aKilledServesFrozenEnvironmentIsRemovedByTheNext() throws {
        try leavesNothingBehind {
            let server = try Server([function])
            let url = server.base + "/2015-03-31/functions/function/invocations"
            #expect(HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(url) -d '{}'") == "200")
            usleep(200_000)
            let environment = ProcFile.descendants(of: server.process.processIdentifier)
                .filter { ProcFile.commandLine($0).contains("snapharness_bootstrap.py") }
            #expect(!environment.isEmpty, "the idle environment's processes")
            for pid in environment {
                let state = (ProcFile.read("/proc/\(pid)/stat") ?? "").split(separator: ")").last?.split(separator: " ").first
                #expect(state != "T", "stopped by SIGSTOP, not frozen: \(pid)")
                #expect(Self.frozenByCgroup(pid), "pid \(pid) is not in a frozen cgroup: \(ProcFile.read("/proc/\(pid)/cgroup") ?? "")")
            }
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            usleep(200_000)
            #expect(environment.allSatisfy { kill($0, 0) == 0 }, "a frozen environment outlives a SIGKILLed serve")
            let next = try CLI.run(["run", CLI.example("hello")])
            #expect(next.exitCode == 0, "\(next)")
            #expect(next.stderr.contains("removed what a killed snapharness"), "it says what it cleaned: \(next.stderr)")
        }
    }

    /// A killed serve that its parent has not reaped yet (a zombie) has ended too: the next snapharness removes its
    /// networks (pasta) and its frozen environment at once. It used to count a zombie as alive, and a serve started
    /// in that window left the dead one's pasta processes running for good (it sweeps once per process).
    @Test func aKilledServeNotYetReapedIsCleanedUpByTheNext() throws {
        let dir = TestEnvironment.scratchDirectory("serve-zombie")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try leavesNothingBehind {
            // sh starts serve in the background, then becomes `sleep`, which never reaps it.
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/bin/sh")
            holder.arguments = ["-c", #""$0" serve "$1" --port 0 > "$2" 2>&1 & echo $! > "$3"; exec sleep 120"#,
                                CLI.binary, function, dir + "/serve.out", dir + "/serve.pid"]
            try holder.run()
            // SIGKILL: Foundation's children inherit blocked signals, and sleep would outlive a SIGTERM.
            defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
            var url = ""
            let deadline = Date().addingTimeInterval(120)
            while url.isEmpty && Date() < deadline {
                let text = (try? String(contentsOfFile: dir + "/serve.out", encoding: .utf8)) ?? ""
                if let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                    url = String(text[range]) + "/2015-03-31/functions/function/invocations"
                }
                usleep(50_000)
            }
            try #require(!url.isEmpty, "serve did not start")
            #expect(HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(url) -d '{}'") == "200")
            let pid = try #require(Int32(((try? String(contentsOfFile: dir + "/serve.pid", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            kill(pid, SIGKILL)
            usleep(300_000)
            #expect(ProcFile.hasEnded(pid) && kill(pid, 0) == 0, "serve is a zombie, not reaped")
            #expect(!HostFootprint.take().pastaProcesses.isEmpty, "its networks' pasta outlived it")
            let next = try CLI.run(["run", CLI.example("hello")])
            #expect(next.exitCode == 0, "\(next)")
            #expect(next.stderr.contains("removed what a killed snapharness"), "it says what it cleaned: \(next.stderr)")
            let left = HostFootprint.take()
            #expect(left.pastaProcesses.isEmpty, "the dead serve's pasta: \(left.pastaProcesses)")
            #expect(!left.tempEntries.contains { $0.contains("snapharness-\(pid)-") || $0.contains("net-\(pid)-") },
                    "its folders and cgroups: \(left.tempEntries)")
        }
    }

    /// Whether `pid`'s freezer cgroup (v1's freezer hierarchy, or its v2 cgroup) is frozen.
    static func frozenByCgroup(_ pid: pid_t) -> Bool {
        for line in (ProcFile.read("/proc/\(pid)/cgroup") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[1] == "freezer" {
                return ProcFile.read("/sys/fs/cgroup/freezer\(parts[2])/freezer.state")?.hasPrefix("FROZEN") == true
            }
            if parts[0] == "0", let events = ProcFile.read("/sys/fs/cgroup\(parts[2])/cgroup.events")
                ?? ProcFile.read("/sys/fs/cgroup/unified\(parts[2])/cgroup.events"), events.contains("frozen 1") {
                return true
            }
        }
        return false
    }

    /// Two serves side by side, a burst of 8 on each, and SIGINT to one of them while both restore: the other one
    /// answers all 8. The interrupted one's cleanup removed every CRIU mount yard made since its call began,
    /// those of the other serve's restores in flight too, which then failed ("Can't remount root with MS_PRIVATE").
    @Test func anInterruptedServeDoesNotBreakAnothersRestores() throws {
        try leavesNothingBehind {
            let interrupted = try Server([function]), other = try Server([function])
            let path = "/2015-03-31/functions/serve_function/invocations"
            // 16 curls at once, 8 to each serve (each curl in its own shell: a shell's `wait` hangs here, as the test
            // process's children inherit its blocked SIGCHLD).
            let urls = [String](repeating: interrupted.base + path, count: 8) + [String](repeating: other.base + path, count: 8)
            let answers = Mutex<[String]?>(nil)
            let bursts = Thread {
                let codes = Concurrently.map(urls.count) { i in
                    HostFootprint.shell("curl -s -o /dev/null -w '%{http_code}' -X POST \(urls[i]) -d '{}'")
                }
                answers.withLock { $0 = codes }
            }
            bursts.start()
            usleep(150_000) // both serves restoring (a burst of 8 takes ~100-300 ms to restore)
            #expect(interrupted.stop() == 130)
            let deadline = Date().addingTimeInterval(60)
            while answers.withLock({ $0 == nil }) && Date() < deadline { usleep(50_000) }
            let codes = answers.withLock { $0 }.map { Array($0.suffix(8)) } ?? []
            #expect(codes.count == 8 && codes.allSatisfy { $0 == "200" }, "the other serve answered: \(codes)")
            #expect(other.stop() == 130)
        }
    }

    /// SIGINT while 8 requests run (each in an environment of its own) and another client stalls mid-body: every
    /// environment is gone (its processes, pasta) whatever the stalled client does, each of the 8 gets an answer or a
    /// closed connection, and serve exits 130 within seconds, leaving nothing behind.
    @Test func aSignalDuringABurstLeavesNothingBehind() throws {
        let dir = TestEnvironment.scratchDirectory("serve-burst")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            import http.client, json, socket, sys, threading, time
            port = int(sys.argv[1])
            path = "/2015-03-31/functions/function/invocations"
            stalled = socket.create_connection(("127.0.0.1", port))
            stalled.sendall(b"POST " + path.encode() + b" HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\n\\r\\n{")
            out = []
            def one():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    c.request("POST", path, body=b'{"sleep": 5}')
                    out.append(c.getresponse().status)
                except Exception as e:
                    out.append(type(e).__name__)
            threads = [threading.Thread(target=one) for _ in range(8)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(json.dumps(out), flush=True)
            time.sleep(60)  # the stalled connection stays open
            """.write(toFile: dir + "/burst.py", atomically: true, encoding: .utf8)
        try leavesNothingBehind {
            // The environments' processes and pasta (HostFootprint.take is too slow to time this).
            func environments() -> [String] {
                HostFootprint.shell("ps -eo pid=,args= | grep -E 'snapharness_bootstrap.py|pasta --config-net' | grep -v grep || true")
                    .split(separator: "\n").map(String.init)
            }
            let before = environments()
            let server = try Server([function, "--max-concurrency", "8"])
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            client.arguments = [dir + "/burst.py", server.base.split(separator: ":").last.map(String.init) ?? "0"]
            let out = Pipe()
            client.standardOutput = out
            try client.run()
            // SIGKILL: Foundation's children inherit blocked signals.
            defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) }; client.waitUntilExit() }
            let reader = CLI.PipeReader(out.fileHandleForReading)
            let deadline = Date().addingTimeInterval(20)
            while (server.status["environments"] as? [Any])?.count ?? 0 < 8 && Date() < deadline { usleep(50_000) }
            #expect((server.status["environments"] as? [Any])?.count == 8, "\(server.status)")
            let start = Date()
            kill(server.process.processIdentifier, SIGINT)
            let answered = Date().addingTimeInterval(10)
            // How soon they go is not asserted (a loaded machine is slow, and serve's spare networks go at its very end);
            // that they go, whatever the stalled client does, is.
            var during = environments()
            while during != before && Date() < answered {
                usleep(20_000)
                during = environments()
            }
            #expect(during == before, "the environments are gone: \(during)")
            while !reader.contains("]") && Date() < answered { usleep(20_000) }
            let answers = (try? JSONSerialization.jsonObject(with: Data(reader.snapshot.utf8))) as? [Any] ?? []
            #expect(answers.count == 8, "every request answered or closed: \(reader.snapshot)")
            #expect(server.stop() == 130, "\(server.stderr.snapshot)")
            #expect(Date().timeIntervalSince(start) < 10, "stopped within seconds")
        }
    }

    /// 1,000 invocations at concurrency 8; latencies are printed (performance is judged by `make bench`, not here).
    @Test func underLoadNothingLeaks() throws {
        try leavesNothingBehind {
            let server = try Server([function, "--max-concurrency", "8"])
            let script = """
            import http.client, json, sys, time
            from concurrent.futures import ThreadPoolExecutor
            host, port = sys.argv[1].split("//")[1].split(":")
            def one(i):
                c = http.client.HTTPConnection(host, int(port), timeout=60)
                t = time.monotonic()
                c.request("POST", "/2015-03-31/functions/function/invocations", body=json.dumps({"i": i}))
                r = c.getresponse(); r.read(); c.close()
                return r.status, (time.monotonic() - t) * 1000
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(one, range(1000)))
            ms = sorted(m for _, m in results)
            print(json.dumps({"ok": sum(1 for s, _ in results if s == 200), "p50": ms[500], "p99": ms[990]}))
            """
            let out = HostFootprint.shell("python3 -c '\(script)' \(server.base) 2>&1")
            let r = object(try? JSONSerialization.jsonObject(with: Data(out.utf8)))
            #expect(r["ok"] as? Int == 1000, "\(out)")
            print("serve under load: 1000 invocations at concurrency 8: p50 \(r["p50"] ?? "?") ms, p99 \(r["p99"] ?? "?") ms")
            let environments = (server.status["environments"] as? [Any])?.count ?? 0
            #expect((1...8).contains(environments), "at most --max-concurrency environments: \(environments)")
            #expect(server.stop() == 130)
        }
    }
}
