import Foundation
import SnapHarnessProtocol
import Glibc
@testable import SnapHarnessEngine
import Testing

/// Issue "Hardening": each case failed before its fix (a hang, a crash, silent data loss or a wrong diagnosis) and
/// passes after it. Every case checks the exit code, the message, and that nothing is left behind.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct HardeningTests {
    let exact = CLI.fixture("json_exact")


    func snapshot(_ dir: String, _ extra: [String] = []) throws -> String {
        let snap = dir + "/snap"
        let made = try CLI.run(["snapshot", CLI.example("hello"), "-o", snap] + extra)
        try #require(made.exitCode == 0, "\(made)")
        return snap
    }

    // MARK: 1. A damaged snapshot never hangs restore

    @Test func truncatedOrEditedImagesAreRefusedBeforeCRIUReadsThem() throws {
        let dir = TestEnvironment.scratchDirectory("digest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = try snapshot(dir)
        let pages = try #require(try FileManager.default.contentsOfDirectory(atPath: snap + "/images").first { $0.hasPrefix("pages-") })
        try leavesNothingBehind {
            let truncated = dir + "/truncated"
            try FileManager.default.copyItem(atPath: snap, toPath: truncated)
            #expect(truncate(truncated + "/images/" + pages, 100_000) == 0)
            let started = Clock.now
            let r1 = try CLI.run(["restore", truncated], timeout: 60)
            #expect(r1.exitCode == 1, "\(r1)")
            #expect(r1.stderr.contains("is damaged") && r1.stderr.contains("holds 100000 bytes"), "\(r1)")
            #expect(Clock.now - started < 10, "refused at once, not after a hang")
            // Same size, other bytes: the digest tells.
            let edited = dir + "/edited"
            try FileManager.default.copyItem(atPath: snap, toPath: edited)
            let fd = open(edited + "/images/" + pages, O_WRONLY)
            #expect(pwrite(fd, [UInt8](repeating: 0xAB, count: 4096), 4096, 8192) == 4096)
            close(fd)
            let r2 = try CLI.run(["restore", edited], timeout: 60)
            #expect(r2.exitCode == 1 && r2.stderr.contains("differ from what was written"), "\(r2)")
        }
        // A copy of a good snapshot is verified once (its images have new identities), then restores.
        let copied = dir + "/copied"
        try FileManager.default.copyItem(atPath: snap, toPath: copied)
        unlink(copied + "/verified")
        let ok = try CLI.run(["restore", copied])
        #expect(ok.exitCode == 0, "\(ok)")
        #expect(FileManager.default.fileExists(atPath: copied + "/verified"), "the verification is remembered")
    }

    /// Past the digest check (a snapshot written before digests existed), CRIU itself gets a deadline: its spinning
    /// restorer is killed and everything it made is removed.
    @Test func aHungCRIURestoreIsStoppedAtTheRestoreLimit() throws {
        let dir = TestEnvironment.scratchDirectory("hung")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = try hangingSnapshot(dir, restoreTimeout: 3)
        try leavesNothingBehind {
            let started = Clock.now
            let r = try CLI.run(["restore", snap], timeout: 60)
            #expect(r.exitCode == 6, "\(r)")
            #expect(r.stderr.contains("CRIU was stopped") && r.stderr.contains("did not finish within 3s"), "\(r)")
            #expect(Clock.now - started < 20)
            #expect(criuYards().isEmpty, "CRIU's /tmp/.criu.mntns.* yards removed: \(criuYards())")
        }
        removeKeptCriuLogs()
    }

    @Test func anInterruptStopsAHungRestoreWithinSeconds() throws {
        let dir = TestEnvironment.scratchDirectory("hung-int")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = try hangingSnapshot(dir, restoreTimeout: 60)
        try leavesNothingBehind {
            let started = Clock.now
            let (r, signalled) = try CLI.runSignalled(["restore", snap], signal: SIGINT, when: "RESTORE_START", delay: 1,
                                                      timeout: 60)
            #expect(signalled)
            #expect(r.exitCode == 130, "\(r)")
            #expect(Clock.now - started < 15, "stopped within a few seconds of the interrupt")
            #expect(criuYards().isEmpty)
        }
        removeKeptCriuLogs()
    }

    /// A CRIU killed mid-call leaves its yard (a tmpfs on /tmp/.criu.mntns.*); one left while another CRIU ran (whose
    /// yard it might have been) stays until a snapharness starts with no CRIU running: that one removes it.
    @Test func aYardLeftByAKilledCRIUIsRemovedByTheNextRun() throws {
        let yard = "/tmp/.criu.mntns.snapharness-test-\(getpid())"
        #expect(mkdir(yard, 0o777) == 0 && mount("none", yard, "tmpfs", 0, nil) == 0, "a stale yard: \(errno)")
        defer { _ = umount2(yard, Int32(MNT_DETACH)); rmdir(yard) }
        let r = try CLI.run(["run", CLI.example("hello")])
        #expect(r.exitCode == 0, "\(r)")
        let mounted = ProcFile.read("/proc/self/mountinfo")?.contains(yard + " ") == true
        #expect(!criuYards().contains(String(yard.dropFirst(5))) && !mounted, "the stale yard: \(criuYards()), mounted: \(mounted)")
    }

    /// A snapshot whose pages image is truncated and whose manifest has no digests (as older snapharness wrote
    /// them): only CRIU's deadline stands between it and a restore that spins forever.
    func hangingSnapshot(_ dir: String, restoreTimeout: Int) throws -> String {
        let snap = try snapshot(dir, ["--restore-timeout", String(restoreTimeout)])
        try stripDigests(snap)
        let pages = try #require(try FileManager.default.contentsOfDirectory(atPath: snap + "/images").first { $0.hasPrefix("pages-") })
        #expect(truncate(snap + "/images/" + pages, 100_000) == 0)
        return snap
    }

    func stripDigests(_ snap: String) throws {
        let path = snap + "/manifest.json"
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        manifest["images"] = nil
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
    }

    func criuYards() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix(".criu.mntns.") }
    }

    // MARK: 3. A process forked during Init

    @Test(arguments: RuntimeClient.allCases)
    func aDaemonForkedAtImportDoesNotHoldTheControlChannel(client: RuntimeClient) throws {
        try leavesNothingBehind {
            let started = Clock.now
            let r = try CLI.run(["run", CLI.fixture("daemon_at_init"), "--handler", "lambda_function.handler", "--restores", "2"]
                                + client.flags, timeout: 120)
            #expect(r.exitCode == 0, "\(r)")
            #expect(Clock.now - started < 30, "no wait for an EOF that never comes")
            #expect(r.jsonLines.count == 2, "both copies answered: \(r)")
        }
    }

    @Test func aProcessForkedBehindPythonsBackIsNamed() throws {
        try leavesNothingBehind {
            let started = Clock.now
            let r = try CLI.run(["run", CLI.fixture("daemon_at_init"), "--handler", "lambda_function.handler", "--env", "FORK=ctypes"], timeout: 120)
            #expect(r.exitCode == 3, "an Init failure, not a hook failure: \(r)")
            #expect(!r.stderr.contains("before-snapshot hooks failed"), "\(r)")
            #expect(r.stderr.contains("still holds a copy of it: pid ") && r.stderr.contains("snapharness_bootstrap.py"),
                    "the holder is named with its command line: \(r)")
            #expect(r.stderr.contains("frozen into the snapshot"), "what Lambda would do: \(r)")
            #expect(Clock.now - started < 30, "not the whole Init limit")
        }
    }

    // MARK: 4. Events and results byte for byte

    @Test(arguments: RuntimeClient.allCases)
    func eventsAndResultsPassThroughByteForByte(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("exact")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ event: String, _ extra: [String] = []) throws -> CLIResult {
            try event.write(toFile: dir + "/event.json", atomically: true, encoding: .utf8)
            return try CLI.run(["run", exact, "--handler", "lambda_function.handler", "--event", dir + "/event.json"] + extra
                               + client.flags)
        }
        let echoed = try run(#"{"id": 12345678901234567, "f": 1.0, "s": "x"}"#)
        #expect(echoed.exitCode == 0, "\(echoed)")
        #expect(echoed.stdout == "{\"id\": 12345678901234567, \"f\": 1.0, \"s\": \"x\"}\n", "\(echoed)")
        let big = try run(#"{"mode": "bigint"}"#)
        #expect(big.stdout == "9007199254740993\n", "\(big)")
        let huge = try run(#"{"mode": "huge"}"#)
        #expect(huge.stdout == "1" + String(repeating: "0", count: 400) + "\n", "\(huge.stdout.prefix(80))")
        let decimal = try run(#"{"mode": "decimal"}"#)
        #expect(decimal.stdout == "1.10\n", "\(decimal)")
        // awslambdaric sends NaN as simplejson writes it; Lambda passes it on as is.
        let nan = try run(#"{"mode": "nan"}"#)
        #expect(nan.exitCode == 0 && nan.stdout == "NaN\n", "\(nan)")
        let bad = try run(#"{"mode": "unserialisable"}"#, ["--json"])
        #expect(bad.exitCode == 8, "\(bad)")
        #expect(bad.report?.failure?.error?.errorType == "Runtime.MarshalError", "\(bad)")
        // --json embeds the result as it was encoded.
        let report = try run(#"{"mode": "bigint"}"#, ["--json"])
        #expect(report.stdout.contains("\"result\" : 9007199254740993"), "\(report.stdout)")
    }

    // MARK: 5. Output before END

    @Test(arguments: RuntimeClient.allCases)
    func everythingAnInvocationPrintedComesBeforeItsEnd(client: RuntimeClient) throws {
        let r = try CLI.run(["run", CLI.fixture("logging_levels"), "--handler", "lambda_function.handler", "--restores", "10", "--invocations", "2"] + client.flags, timeout: 180)
        #expect(r.exitCode == 0, "\(r)")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        for copy in 1...10 {
            let mine = lines.filter { $0.hasPrefix("[copy \(copy)] ") }
            var open = false, printed = 0
            for line in mine {
                if line.contains("] START RequestId") { open = true; printed = 0 }
                if line.contains("printed line") {
                    #expect(open, "copy \(copy): output after END: \(mine)")
                    printed += 1
                }
                if line.contains("] END RequestId") {
                    #expect(printed == 1, "copy \(copy): END before the invocation's output: \(mine)")
                    open = false
                }
            }
        }
    }

    // MARK: 6. logging

    @Test(arguments: RuntimeClient.allCases)
    func loggingRecordsReachTheLogAsOnLambda(client: RuntimeClient) throws {
        let text = try CLI.run(["run", CLI.fixture("logging_levels"), "--handler", "lambda_function.handler"] + client.flags)
        #expect(text.exitCode == 0, "\(text)")
        let warning = text.stderr.split(separator: "\n").first { $0.hasPrefix("[WARNING]\t") && $0.hasSuffix("\torders warning") }
        #expect(warning != nil, "text records: [LEVEL]\\t<time>\\t<request id>\\t<message>: \(text)")
        if let warning {
            let fields = warning.split(separator: "\t")
            #expect(fields.count == 4 && fields[1].hasSuffix("Z") && fields[2].count == 36, "\(warning)")
        }
        #expect(!text.stderr.contains("orders info"), "the root logger stays at WARNING without a log level")
        let json = try CLI.run(["run", CLI.fixture("logging_levels"), "--handler", "lambda_function.handler", "--log-format", "JSON", "--log-level", "INFO"] + client.flags)
        #expect(json.exitCode == 0, "\(json)")
        let records = json.stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let info = records.first { $0["message"] as? String == "orders info" }
        #expect(info?["level"] as? String == "INFO" && info?["logger"] as? String == "orders"
                && (info?["requestId"] as? String)?.count == 36, "\(records)")
        #expect(!records.contains { $0["message"] as? String == "orders debug" })
        let refused = try CLI.run(["run", CLI.fixture("logging_levels"), "--handler", "lambda_function.handler", "--log-level", "INFO"])
        #expect(refused.exitCode == 1 && refused.stderr.contains("--log-level needs --log-format JSON"), "\(refused)")
    }

    // MARK: 7. 6 MB each way, linear framing

    @Test func payloadsOverSixMBAreRefusedAsLambdaRefusesThem() throws {
        let dir = TestEnvironment.scratchDirectory("payload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let event = "{\"mode\": \"big\", \"pad\": \"" + String(repeating: "p", count: 7 << 20) + "\"}"
        try event.write(toFile: dir + "/big.json", atomically: true, encoding: .utf8)
        let request = try CLI.run(["run", exact, "--handler", "lambda_function.handler", "--event", dir + "/big.json"])
        #expect(request.exitCode == 1 && request.stderr.contains("RequestTooLargeException"), "\(request.stderr.suffix(400))")
        #expect(!request.stderr.contains("INIT_START"), "refused before it reaches the function")
        try #"{"mode": "big", "bytes": 7000000}"#.write(toFile: dir + "/e7.json", atomically: true, encoding: .utf8)
        let response = try CLI.run(["run", exact, "--handler", "lambda_function.handler", "--event", dir + "/e7.json", "--timeout", "30"])
        #expect(response.exitCode == 8 && response.stdout.contains("Function.ResponseSizeTooLarge"), "\(response.stderr.suffix(600))")
        try #"{"mode": "big", "bytes": 5000000}"#.write(toFile: dir + "/e5.json", atomically: true, encoding: .utf8)
        let five = try CLI.run(["run", exact, "--handler", "lambda_function.handler", "--event", dir + "/e5.json", "--json", "--timeout", "30"])
        #expect(five.exitCode == 0, "\(five.stderr.suffix(600))")
        let ms = five.report?.copies.first?.invocations.first?.durationMs ?? .infinity
        #expect(ms < 2000, "a 5 MB response takes milliseconds, not seconds: \(ms) ms")
    }

    @Test func framingIsLinearInTheBytesReceived() throws {
        var framer = LineFramer()
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 5 << 20) + [UInt8(ascii: "\n")]
        var lines = 0
        for chunk in stride(from: 0, to: line.count, by: 65536) {
            framer.append(line[chunk..<min(chunk + 65536, line.count)])
            while try framer.nextLine() != nil { lines += 1 }
        }
        #expect(lines == 1)
        #expect(framer.bytesExamined == line.count, "each byte is looked at once: \(framer.bytesExamined)")
    }

    // MARK: 8-10. Bad input: one exit code, checked before Init

    @Test func badInputExitsOneWithAClearMessage() throws {
        let inf = try CLI.run(["run", exact, "--timeout", "inf"])
        #expect(inf.exitCode == 1 && inf.stderr.contains("--timeout must be a positive number of seconds"), "\(inf)")
        let negative = try CLI.run(["run", exact, "--timeout", "-1"])
        #expect(negative.exitCode == 1 && negative.stderr.contains("--timeout must be a positive number"), "\(negative)")
        let unknown = try CLI.run(["run", exact, "--no-such-flag"])
        #expect(unknown.exitCode == 1 && unknown.stderr.contains("Unknown option"), "\(unknown)")
        let version = try CLI.run(["--version"])
        #expect(version.exitCode == 0 && version.stdout == SnapHarnessVersion.current + "\n", "\(version)")
        let output = try CLI.run(["snapshot", exact, "-o", "/no/such/parent/snap"])
        #expect(output.exitCode == 1 && output.stderr.contains("parent folder /no/such/parent does not exist"), "\(output)")
        #expect(!output.stderr.contains("INIT_START"), "checked before Init")
    }

    @Test func envFilesWithCRLFAndReservedNames() throws {
        let env = try FunctionConfig.parseEnvFile("A=1\r\nB=two words\r\n# c\r\n\r\n", path: "f.env")
        #expect(env == ["A": "1", "B": "two words"])
        let dir = TestEnvironment.scratchDirectory("envfile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "AWS_REGION=eu-west-1\n".write(toFile: dir + "/r.env", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", exact, "--env-file", dir + "/r.env"])
        #expect(r.exitCode == 1 && r.stderr.contains("cannot be set with --env-file \(dir)/r.env"), "\(r)")
    }

    // MARK: 12-13. --json keeps the log; CRIU's noise; the trace id

    @Test func jsonKeepsTheLogOnStandardError() throws {
        let r = try CLI.run(["run", CLI.fixture("logging_levels"), "--handler", "lambda_function.handler", "--json"])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.json != nil, "stdout is one JSON document")
        #expect(r.stderr.contains("START RequestId") && r.stderr.contains("printed line"), "\(r.stderr)")
    }

    @Test func harmlessCRIUErrorsDoNotHideTheReason() throws {
        let log = TestEnvironment.scratchDirectory("criu-log") + "/restore.log"
        defer { try? FileManager.default.removeItem(atPath: (log as NSString).deletingLastPathComponent) }
        try """
        (00.000100) Error (criu/rlimit.c:42): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted
        (00.001000) Error (criu/files-reg.c:2197): Can't open file tmp/x on restore: No such file or directory
        """.write(toFile: log, atomically: true, encoding: .utf8)
        #expect(CriuError.reasons(inLogAt: log) == ["Error (criu/files-reg.c:2197): Can't open file tmp/x on restore: No such file or directory"])
    }

    @Test func eachInvocationHasATraceId() throws {
        let dir = TestEnvironment.scratchDirectory("trace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"mode": "trace"}"#.write(toFile: dir + "/e.json", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", exact, "--handler", "lambda_function.handler", "--event", dir + "/e.json", "--invocations", "2"])
        #expect(r.exitCode == 0, "\(r)")
        let traces = r.jsonLines.compactMap { object($0)["trace"] as? String }
        #expect(traces.count == 2 && Set(traces).count == 2, "\(r.stdout)")
        #expect(traces.allSatisfy { $0.hasPrefix("Root=1-") && $0.contains(";Parent=") && $0.contains(";Sampled=") })
    }

    // MARK: 2. SIGPIPE

    @Test func aWriteToADeadPeerIsAnErrorNotASignal() throws {
        signal(SIGPIPE, SIG_DFL) // as a fresh process has it: a SIGPIPE would end this test run
        defer { signal(SIGPIPE, SIG_IGN) }
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        close(fds[1])
        #expect(throws: SystemError.self) { try FD.writeAll(fds[0], [1, 2, 3]) }
        close(fds[0])
    }
}
