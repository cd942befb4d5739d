import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// Issue "Hardening, round 3": each case failed on the main before its fix and passes after it, and leaves nothing
/// behind (function processes, pasta, loop devices, cgroups, temporary folders).
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct HardeningRound3Tests {
    /// Runs `program` to its end and returns its exit status and what it wrote on one stream (the other is dropped).
    func launch(_ program: String, _ arguments: [String], capturing stream: Int32 = 1) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = stream == 1 ? pipe : FileHandle.nullDevice
        p.standardError = stream == 2 ? pipe : FileHandle.nullDevice
        try p.run()
        // Read only a pipe the child holds: otherwise this process's own write end keeps it open forever.
        let text = stream == 0 ? "" : String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// Runs `command` in bash and returns snapharness's own exit code (the first of the pipeline).
    func pipeline(_ command: String) throws -> Int32 {
        try launch("/bin/bash", ["-c", command + "; exit ${PIPESTATUS[0]}"], capturing: 0).0
    }

    // MARK: 3. A closed output ends the run cleanly

    /// `| head -2` and `| true` close the pipe while copies run: snapharness used to crash (SIGILL in FileHandle,
    /// exit 132) and leave the copies with their networks, loop devices and cgroups. Now it stops as a SIGPIPE
    /// would (141), through the normal cleanup.
    @Test(arguments: ["2>&1 | head -2", "2>&1 | true", "2>/dev/null | true"])
    func aClosedOutputPipeEndsTheRunCleanly(tail: String) throws {
        try leavesNothingBehind {
            let status = try pipeline("'\(CLI.binary)' run '\(CLI.example("hello"))' --restores 2 --invocations 3 \(tail)")
            #expect(status == 141, "exit like SIGPIPE, never a crash: \(status)")
        }
    }

    // MARK: 8. Lambda's configuration and payload limits

    /// A function name over 64 characters (or with characters Lambda refuses) and environment variables over 4 KB in
    /// total are refused before Init, as Lambda refuses them; an error object over 6 MB becomes Lambda's
    /// Function.ResponseSizeTooLarge, as a result over 6 MB does.
    @Test(arguments: RuntimeClient.allCases)
    func lambdasLimitsOnNamesVariablesAndErrorPayloads(client: RuntimeClient) throws {
        let hello = CLI.example("hello")
        try leavesNothingBehind {
            let long = try CLI.run(["run", hello, "--function-name", String(repeating: "f", count: 65)] + client.flags)
            #expect(long.exitCode == 1 && long.stderr.contains("Lambda accepts 1 to 64"), "\(long)")
            #expect(!long.stderr.contains("INIT_START"))
            let odd = try CLI.run(["run", hello, "--function-name", "my.function"] + client.flags)
            #expect(odd.exitCode == 1 && odd.stderr.contains("letters, digits, - and _"), "\(odd)")
            let sixtyFour = try CLI.run(["run", hello, "--function-name", String(repeating: "f", count: 64)] + client.flags)
            #expect(sixtyFour.exitCode == 0, "64 characters are fine: \(sixtyFour)")
            let big = try CLI.run(["run", hello, "--env", "BIG=" + String(repeating: "x", count: 4100)] + client.flags)
            #expect(big.exitCode == 1 && big.stderr.contains("more than 4 KB"), "\(big)")
            let fits = try CLI.run(["run", hello, "--env", "FITS=" + String(repeating: "x", count: 4000)] + client.flags)
            #expect(fits.exitCode == 0, "\(fits)")
        }
        let dir = TestEnvironment.scratchDirectory("bigerror")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: """
            def lambda_handler(event, context):
                raise ValueError("x" * (7 * 1024 * 1024))
            """)
        let r = try CLI.run(["run", function] + client.flags)
        #expect(r.exitCode == 8, "\(r.exitCode) \(r.stderr.suffix(600))")
        let error = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(error["errorType"] as? String == "Function.ResponseSizeTooLarge", "\(r.stdout.prefix(300))")
        #expect(r.stdout.utf8.count < 10_000, "the 7 MB error object is not passed on")
    }

    // MARK: 7. Snapshots: only their own files, only plausible numbers

    /// A copy that keeps tmp.ext4 sparse (a plain copy writes all 512 MB of it).
    func copySnapshot(_ from: String, _ to: String) { _ = HostFootprint.shell("cp -a --sparse=always '\(from)' '\(to)'") }

    /// A tmp.ext4 replaced by a link to another file (the copies' disk would be a host file), files changed or added in
    /// the snapshot's copy of the code, and manifest numbers no Lambda function can have were accepted; all are
    /// refused with what is wrong, and `inspect` says so too.
    @Test func linkedDisksAndImplausibleManifestsAreRefused() throws {
        let dir = TestEnvironment.scratchDirectory("manifest3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        try #require(try CLI.run(["snapshot", CLI.example("hello"), "-o", snap]).exitCode == 0)
        try leavesNothingBehind {
            let linked = dir + "/linked"
            copySnapshot(snap, linked)
            try FileManager.default.moveItem(atPath: linked + "/tmp.ext4", toPath: dir + "/elsewhere.ext4")
            try FileManager.default.createSymbolicLink(atPath: linked + "/tmp.ext4", withDestinationPath: dir + "/elsewhere.ext4")
            let r = try CLI.run(["restore", linked])
            #expect(r.exitCode == 1 && r.stderr.contains("tmp.ext4 is not a regular file"), "\(r)")
            let inspected = try CLI.run(["inspect", linked])
            #expect(inspected.exitCode == 1, "\(inspected)")

            // The snapshot's copy of the code runs in every copy: a changed or added file there is refused.
            let edited = dir + "/edited-code"
            copySnapshot(snap, edited)
            try "\nprint('changed')\n".write(toFile: edited + "/code/lambda_function.py", atomically: false, encoding: .utf8)
            let changedCode = try CLI.run(["restore", edited])
            #expect(changedCode.exitCode == 1 && changedCode.stderr.contains("code/ differs"), "\(changedCode)")
            let added = dir + "/added-code"
            copySnapshot(snap, added)
            try "import os\n".write(toFile: added + "/code/sitecustomize.py", atomically: true, encoding: .utf8)
            let addedCode = try CLI.run(["restore", added])
            #expect(addedCode.exitCode == 1 && addedCode.stderr.contains("code/ differs"), "\(addedCode)")

            for (key, value) in [("memorySizeMB", "10"), ("timeoutSeconds", "-1"), ("restoreTimeoutSeconds", "0")] {
                let edited = dir + "/edited-\(key)"
                copySnapshot(snap, edited)
                let text = try String(contentsOfFile: edited + "/manifest.json", encoding: .utf8)
                let changed = text.replacingOccurrences(of: #""\#(key)"\s*:\s*[0-9.]+"#, with: "\"\(key)\":\(value)",
                                                        options: .regularExpression)
                #expect(changed != text, "the manifest has \(key)")
                try changed.write(toFile: edited + "/manifest.json", atomically: true, encoding: .utf8)
                chmod(edited + "/manifest.json", 0o600)
                let refused = try CLI.run(["restore", edited])
                #expect(refused.exitCode == 1 && refused.stderr.contains("manifest.json says \(key) \(value)"), "\(refused)")
            }
        }
    }

    /// An io_uring made during Init: CRIU said only "send_fds failed (-22)". The checkpoint now names what holds
    /// what, and what to do; nothing is written or left.
    @Test(arguments: RuntimeClient.allCases)
    func anIoUringHeldAtInitIsNamed(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("uring3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            RING = libc.syscall(425, 8, ctypes.create_string_buffer(120))  # io_uring_setup
            if RING < 0:
                raise OSError(ctypes.get_errno(), "io_uring_setup")
            def lambda_handler(event, context):
                return RING
            """)
        try leavesNothingBehind {
            let r = try CLI.run(["snapshot", function, "-o", dir + "/snap"] + client.flags)
            #expect(r.exitCode == 5 && r.stderr.contains("holds an io_uring instance")
                    && r.stderr.contains("after-restore hook"), "\(r)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/snap"))
        }
    }

    // MARK: 9. Messages that say what is wrong, before any work is spent

    @Test func messagesNameTheProblemBeforeAnyWork() throws {
        let dir = TestEnvironment.scratchDirectory("messages3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        try leavesNothingBehind {
            // Without root: say so and why (was: mkdtemp ... Permission denied, and a wrong Python warning).
            let (status, text) = try launch("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                                  CLI.binary, "run", CLI.example("hello")], capturing: 2)
            #expect(status == 1 && text.contains("snapharness needs root"), "\(text)")
            #expect(!text.contains("mkdtemp") && !text.contains("Python 3.11"), "\(text)")

            // -o inside the folder the snapshot copies: refused at once (was: "file exists" after the whole Init).
            let function = dir + "/fn"
            try FileManager.default.createDirectory(atPath: function, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: CLI.example("hello/lambda_function.py"), toPath: function + "/lambda_function.py")
            let inside = try CLI.run(["snapshot", function, "-o", function + "/snap"])
            #expect(inside.exitCode == 1 && inside.stderr.contains("is inside") && !inside.stderr.contains("INIT_START"), "\(inside)")

            // A handler module that links to nothing (was: "No module named" after a whole start-up).
            let dangling = dir + "/dangling"
            try FileManager.default.createDirectory(atPath: dangling, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dangling + "/lambda_function.py", withDestinationPath: dir + "/gone.py")
            let link = try CLI.run(["run", dangling])
            #expect(link.exitCode == 1 && link.stderr.contains("is a symbolic link to") && !link.stderr.contains("INIT_START"),
                    "\(link)")

            // bench's output folders are checked before the benchmark (was: after it).
            let chart = try CLI.run(["bench", CLI.example("hello"), "--chart", dir + "/missing/chart.svg"])
            #expect(chart.exitCode == 1 && chart.stderr.contains("does not exist"), "\(chart)")

            // /proc is no function folder (was: "Invalid argument").
            let proc = try CLI.run(["run", "/proc"])
            #expect(proc.exitCode == 1 && proc.stderr.contains("kernel or device file system"), "\(proc)")

            // A remote CodeUri is named as such (was: shown as s3:/ and "does not exist").
            try """
                Resources:
                  Remote:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: s3://bucket/function.zip
                      Handler: app.handler
                      Runtime: python3.13
                """.write(toFile: dir + "/template.yaml", atomically: true, encoding: .utf8)
            let s3 = try CLI.run(["run", "-t", dir + "/template.yaml"])
            #expect(s3.exitCode == 1 && s3.stderr.contains("CodeUri is s3://bucket/function.zip, a remote location"), "\(s3)")
        }
        // A snapshot whose images are a link: named as a link (was: "writable by other users (mode 777)").
        let snap = dir + "/snap"
        try #require(try CLI.run(["snapshot", CLI.example("hello"), "-o", snap]).exitCode == 0)
        try FileManager.default.moveItem(atPath: snap + "/images", toPath: dir + "/images-elsewhere")
        try FileManager.default.createSymbolicLink(atPath: snap + "/images", withDestinationPath: dir + "/images-elsewhere")
        let linked = try CLI.run(["restore", snap])
        #expect(linked.exitCode == 1 && linked.stderr.contains("is a symbolic link") && !linked.stderr.contains("mode 777"),
                "\(linked)")
    }

    // MARK: 5. Odd inputs are refused at once, with their path

    /// A FIFO in the code folder hung the snapshot (SIGINT could not end it), `--layer /` walked /proc and wrote
    /// gigabytes, a 20 GB sparse file was copied at full size. Now: refused before Init, in well under a second each,
    /// with the path; Lambda's deployment limits (250 MB unzipped, 5 layers) are enforced as Lambda enforces them.
    @Test func oddInputsAreRefusedAtOnceWithTheirPath() throws {
        let dir = TestEnvironment.scratchDirectory("odd3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let function = dir + "/fn"
        try FileManager.default.createDirectory(atPath: function, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.example("hello/lambda_function.py"), toPath: function + "/lambda_function.py")
        try leavesNothingBehind {
            func timed(_ args: [String]) throws -> (CLIResult, Double) {
                let start = Date()
                let r = try CLI.run(args, timeout: 30)
                return (r, Date().timeIntervalSince(start))
            }
            #expect(mkfifo(function + "/pipe", 0o644) == 0)
            let (fifo, fifoSeconds) = try timed(["snapshot", function, "-o", dir + "/snap"])
            #expect(fifo.exitCode == 1 && fifo.stderr.contains(function + "/pipe is a FIFO"), "\(fifo)")
            #expect(fifoSeconds < 5, "refused at once, not hung: \(fifoSeconds) s")
            unlink(function + "/pipe")

            let (root, rootSeconds) = try timed(["run", CLI.example("hello"), "--layer", "/"])
            #expect(root.exitCode == 1 && root.stderr.contains("a kernel or device file system"), "\(root)")
            #expect(rootSeconds < 5, "\(rootSeconds) s")

            #expect(truncate(function + "/sparse", 20 << 30) == 0 || creat(function + "/sparse", 0o644) >= 0)
            _ = truncate(function + "/sparse", 20 << 30)
            let (sparse, sparseSeconds) = try timed(["run", function])
            #expect(sparse.exitCode == 1 && sparse.stderr.contains("more than 250 MB"), "\(sparse)")
            #expect(sparseSeconds < 5, "\(sparseSeconds) s")
            unlink(function + "/sparse")

            let six = Array(repeating: ["--layer", CLI.fixture("layers/one")], count: 6).flatMap { $0 }
            let layers = try CLI.run(["run", function] + six)
            #expect(layers.exitCode == 1 && layers.stderr.contains("at most 5"), "\(layers)")
            #expect(try CLI.run(["run", function]).exitCode == 0, "the folder itself is fine once they are gone")
        }
    }

    /// Many copies need more descriptors than a usual soft limit: with `ulimit -Sn 64`, 12 copies ran out (CRIU's
    /// "Can't chose service_fd_base", or pasta blamed /dev/net/tun). The supervisor raises its soft limit to the hard one.
    @Test func manyCopiesDoNotRunOutOfDescriptors() throws {
        try leavesNothingBehind {
            let (status, text) = try launch("/bin/bash", [
                "-c", "ulimit -Sn 64 && exec '\(CLI.binary)' run '\(CLI.example("hello"))' --restores 12"])
            #expect(status == 0, "\(text.suffix(300))")
            #expect(text.split(separator: "\n").filter { $0.contains("\"result\"") }.count == 12, "\(text.suffix(300))")
        }
    }

    // MARK: 2. Layers keep their permissions

    /// A layer's 0700 folder was merged under /opt as 0755, so the unprivileged function read what its owner had
    /// locked (and a SAM ContentUri pointing at /root did the same for any host folder). Modes and owners are kept
    /// as a layer's zip keeps them; /opt itself stays Lambda's.
    @Test func layersKeepTheirModesAndOwners() throws {
        let dir = TestEnvironment.scratchDirectory("layerperm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let layer = dir + "/layer"
        try FileManager.default.createDirectory(atPath: layer + "/private", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layer + "/public", withIntermediateDirectories: true)
        try "secret".write(toFile: layer + "/private/secret.txt", atomically: true, encoding: .utf8)
        try "shared".write(toFile: layer + "/public/shared.txt", atomically: true, encoding: .utf8)
        chmod(layer, 0o755)
        chmod(layer + "/private", 0o700)
        chmod(layer + "/public", 0o755)
        chmod(layer + "/public/shared.txt", 0o644)
        let function = try TestEnvironment.function(in: dir, source: """
            import os
            def lambda_handler(event, context):
                def read(path):
                    try:
                        return open(path).read()
                    except OSError as e:
                        return os.strerror(e.errno)
                return {"private": read("/opt/private/secret.txt"), "public": read("/opt/public/shared.txt"),
                        "mode": oct(os.stat("/opt/private").st_mode & 0o777), "opt": oct(os.stat("/opt").st_mode & 0o777)}
            """)
        try leavesNothingBehind {
            let r = try CLI.run(["run", function, "--layer", layer])
            #expect(r.exitCode == 0, "\(r)")
            let seen = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
            #expect(seen["private"] as? String == "Permission denied" && seen["mode"] as? String == "0o700", "\(seen)")
            #expect(seen["public"] as? String == "shared" && seen["opt"] as? String == "0o755", "\(seen)")
        }
    }

    // MARK: 4. A killed snapharness is cleaned up by the next one

    /// SIGKILL while two copies run: their processes, /tmp disks (loop devices) and cgroups used to stay forever. The
    /// next snapharness finds them by the cgroups the dead one owned, kills them, and says what it removed.
    @Test func whatAKilledSnapharnessLeftIsRemovedByTheNext() throws {
        let dir = TestEnvironment.scratchDirectory("killed3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try TestEnvironment.function(in: dir, source: """
            import time
            def lambda_handler(event, context):
                print("in the handler", flush=True)
                time.sleep(60)
            """)
        try leavesNothingBehind {
            // Both copies inside their handler: a copy still waiting for its invocation would see the channel close
            // and exit by itself, leaving nothing for the next snapharness to find.
            let (_, signalled) = try CLI.runSignalled(["run", function, "--restores", "2", "--timeout", "120"], signal: SIGKILL,
                                                      whenAll: ["[copy 1] in the handler", "[copy 2] in the handler"],
                                                      timeout: 60)
            #expect(signalled)
            let left = HostFootprint.take()
            #expect(left.functionProcesses.count >= 2 && !left.loopDevices.isEmpty, "the copies outlived it: \(left)")
            let next = try CLI.run(["run", CLI.example("hello")])
            #expect(next.exitCode == 0, "\(next)")
            #expect(next.stderr.contains("removed what a killed snapharness"), "it says what it cleaned: \(next.stderr)")
        }
    }

    // MARK: 6. serve: a wrong address is said before the snapshot

    /// A --host that is not this machine's, or a port in use, was reported as "port in use" after the whole snapshot.
    @Test func serveChecksItsAddressBeforeTheSnapshot() throws {
        try leavesNothingBehind {
            // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails at once, nothing is sent.
            let foreign = try CLI.run(["serve", CLI.example("hello"), "--host", "192.0.2.1"], timeout: 30)
            #expect(foreign.exitCode == 1 && foreign.stderr.contains("is not an address of this machine"), "\(foreign)")
            #expect(!foreign.stderr.contains("INIT_START"), "before the snapshot: \(foreign)")
            let taken = try TCPServer() // a port this machine uses already
            defer { taken.stop() }
            let port = Int(taken.port)
            let inUse = try CLI.run(["serve", CLI.example("hello"), "--port", String(port)], timeout: 30)
            #expect(inUse.exitCode == 1 && inUse.stderr.contains("--port \(port) is in use"), "\(inUse)")
            #expect(!inUse.stderr.contains("INIT_START"))
        }
    }

    // MARK: 1. One environment cannot starve another

    /// Every environment runs as the same uid, and RLIMIT_NPROC counted that uid's processes machine-wide: one
    /// function holding 1,030 children made every other environment's Init fail (fork: EAGAIN). Each environment now
    /// has its own count of 1,024 (its cgroup's pids.max): the one at its limit gets EAGAIN, as on Lambda, and a
    /// second one beside it forks 1,000 children undisturbed.
    @Test(.enabled(if: EnvironmentCgroup.countsProcesses, "needs the cgroup pids controller"))
    func oneEnvironmentAtItsProcessLimitDoesNotStarveAnother() throws {
        let dir = TestEnvironment.scratchDirectory("nproc3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"n": 1100, "hold": 12}"#.write(toFile: dir + "/greedy.json", atomically: true, encoding: .utf8)
        try #"{"n": 1000, "hold": 1}"#.write(toFile: dir + "/modest.json", atomically: true, encoding: .utf8)
        let fixture = CLI.fixture("fork_hold")
        try leavesNothingBehind {
            let greedy = Process()
            greedy.executableURL = URL(fileURLWithPath: CLI.binary)
            greedy.arguments = ["run", fixture, "--event", dir + "/greedy.json", "--memory", "8192", "--timeout", "60"]
            let out = Pipe()
            greedy.standardOutput = out
            greedy.standardError = FileHandle.nullDevice
            try greedy.run()
            let greedyOut = CLI.PipeReader(out.fileHandleForReading)
            // Beside it, while its 1,000-odd children live: a second environment of the same uid.
            usleep(4_000_000)
            let modest = try CLI.run(["run", fixture, "--event", dir + "/modest.json", "--memory", "8192", "--timeout", "60"])
            #expect(modest.exitCode == 0, "\(modest.stderr.suffix(800))")
            let mine = (try? JSONSerialization.jsonObject(with: Data(modest.stdout.utf8))) as? [String: Any] ?? [:]
            #expect(mine["started"] as? Int == 1000 && mine["error"] is NSNull, "undisturbed: \(mine)")
            greedy.waitUntilExit()
            let theirs = (try? JSONSerialization.jsonObject(with: Data(greedyOut.text.utf8))) as? [String: Any] ?? [:]
            let started = theirs["started"] as? Int ?? 0
            #expect(theirs["error"] as? String == "Resource temporarily unavailable" && started < 1100 && started > 900,
                    "its own limit stopped it: \(theirs)")
        }
    }
}
