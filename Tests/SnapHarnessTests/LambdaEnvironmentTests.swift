import Foundation
import Glibc
import SnapHarnessEngine
import Synchronization
import Testing

/// Issue "Lambda's execution environment": what a restored copy sees from inside, checked with real restores.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct LambdaEnvironmentTests {
    let probe = CLI.fixture("lambda_env")


    @Test func aRestoredCopyLivesInLambdasFilesystem() throws {
        let r = try CLI.run(["run", probe, "--handler", "lambda_function.handler",
                             "--layer", CLI.fixture("layers/one"), "--layer", CLI.fixture("layers/two")])
        #expect(r.exitCode == 0, "\(r)")
        let seen = object(r.json)
        #expect(seen["cwd"] as? String == "/var/task" && seen["file"] as? String == "/var/task/lambda_function.py", "\(seen)")
        #expect((seen["executable"] as? String)?.hasPrefix("/var/lang/bin/python3.") == true, "\(seen)")
        #expect(seen["writeTask"] as? String == "EROFS" && seen["writeEtc"] as? String == "EROFS", "\(seen)")
        #expect(seen["writeTmp"] as? String == "ok")
        #expect(seen["manyFiles"] as? String == "EMFILE", "the 1,025th descriptor fails")
        // 1,024 processes: the environment's cgroup counts them where the pids controller exists (RLIMIT_NPROC
        // would count every environment's together: HardeningRound3Tests), else RLIMIT_NPROC.
        #expect(seen["nofile"] as? [Int] == [1024, 1024], "\(seen)")
        #expect(EnvironmentCgroup.countsProcesses || seen["nproc"] as? [Int] == [1024, 1024], "\(seen)")
        #expect(seen["uid"] as? Int == 993, "runs unprivileged, as Lambda's sbx_user1051")
        #expect(seen["layer"] as? String == "two", "later layers win: \(seen)")
        let path = seen["path"] as? [String] ?? []
        // Lambda's order: the function, the layers, the runtime (PYTHONPATH=/var/runtime), then the standard library.
        let opt = path.firstIndex(of: "/opt/python") ?? -1, runtime = path.firstIndex(of: "/var/runtime") ?? -1
        let stdlib = path.firstIndex { $0.hasPrefix("/var/lang/lib/python") } ?? -1
        #expect(path.first == "/var/task" && 0 < opt && opt < runtime && runtime < stdlib, "\(path)")
        let env = object(seen["env"])
        #expect(env["LAMBDA_TASK_ROOT"] as? String == "/var/task" && env["LAMBDA_RUNTIME_DIR"] as? String == "/var/runtime")
        #expect(env["PATH"] as? String == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        #expect((env["LD_LIBRARY_PATH"] as? String)?.hasPrefix("/var/lang/lib:") == true)
        #expect(env["LANG"] as? String == "en_US.UTF-8" && env["TZ"] as? String == ":/etc/localtime")
        #expect(env["AWS_LAMBDA_LOG_GROUP_NAME"] is NSNull && env["AWS_LAMBDA_LOG_STREAM_NAME"] is NSNull)
        let boto3 = object(seen["boto3"])
        #expect((boto3["file"] as? String)?.hasPrefix("/var/runtime/boto3/") == true, "the runtime's AWS SDK: \(boto3)")
        // Restore Duration covers CRIU's restore too; Billed Restore Duration only runtime load + hooks.
        let report = r.stderr.split(separator: "\n").first { $0.hasPrefix("REPORT ") }.map(String.init) ?? ""
        func ms(_ field: String) -> Double? {
            guard let range = report.range(of: field + ": ") else { return nil }
            return Double(report[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        let total = ms("Restore Duration"), billed = ms("Billed Restore Duration")
        #expect(total != nil && billed != nil && billed! < total!, "\(report)")
    }

    /// Each environment has a network of its own, as on Lambda: sockets bound during Init work in 3 concurrent copies
    /// (on a shared network the second copy's restore failed with "Address already in use"), and the host's loopback
    /// services answer on the same 127.0.0.1:PORT inside (through pasta).
    @Test(arguments: RuntimeClient.allCases)
    func eachEnvironmentHasItsOwnNetwork(client: RuntimeClient) throws {
        let server = try TCPServer()
        let hostNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        try leavesNothingBehind {
            let r = try CLI.run(["run", CLI.fixture("own_network"), "--restores", "3", "--env", "HOST_PORT=\(server.port)"] + client.flags)
            #expect(r.exitCode == 0, "\(r)")
            let results = r.jsonLines.map { object(object($0)["result"]) }
            #expect(results.count == 3, "\(r)")
            #expect(results.allSatisfy { $0["tcp"] as? String == "t" && $0["udp"] as? String == "u" }, "\(results)")
            #expect(Set(results.compactMap { $0["port"] as? Int }).count == 1, "the port bound at Init, in every copy")
            let namespaces = Set(results.compactMap { $0["netns"] as? String })
            #expect(namespaces.count == 3 && !namespaces.contains(hostNamespace), "\(namespaces) vs the host's \(hostNamespace)")
            #expect(results.allSatisfy { ($0["interfaces"] as? [String])?.contains("lo") == true }, "\(results)")
        }
        let deadline = Date().addingTimeInterval(5)
        while server.lines < 3 && Date() < deadline { usleep(10_000) }
        #expect(server.lines == 3, "every copy reached the host's service")
    }

    /// Nothing reaches an environment from outside, as on Lambda: a port the function listens on stays inside its
    /// network. pasta forwards the host's ports into a namespace by default (`-t auto`), binding every port the
    /// function listens on as a port of the host, on every interface, where the next copy's pasta then clashed.
    @Test func aListeningPortStaysInsideTheEnvironment() throws {
        let server = try TCPServer()
        let port = HostFootprint.shell("python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
                                       + "print(s.getsockname()[1])\"").trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(Int(port) != nil, "a free port: \(port)")
        let exposed = Mutex<[String]>([]), running = Mutex(true)
        let watcher = Thread { // pasta looks for new ports every second; the copy holds its port 2.5 s
            while running.withLock({ $0 }) {
                let seen = HostFootprint.shell("ss -ltnpH 'sport = :\(port)'")
                if !seen.isEmpty { exposed.withLock { $0.append(seen) } }
                usleep(100_000)
            }
        }
        watcher.start()
        try leavesNothingBehind {
            let r = try CLI.run(["run", CLI.fixture("own_network"), "--event", "-", "--env", "HOST_PORT=\(server.port)",
                                 "--env", "LISTEN_PORT=\(port)", "--timeout", "10"], stdin: #"{"hold": 2.5}"#)
            running.withLock { $0 = false }
            #expect(r.exitCode == 0, "\(r)")
            #expect(object(r.json)["port"] as? Int == Int(port), "\(r.stdout)")
        }
        running.withLock { $0 = false }
        #expect(exposed.withLock { $0 }.isEmpty, "the environment's port \(port) on the host: \(exposed.withLock { $0 })")
    }

    /// A host with a named network namespace (`ip netns add` binds it at /run/netns/NAME, as container engines do
    /// under /run/docker/netns) still snapshots: CRIU cannot dump such a mount, and Lambda has none.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip"),
                   "needs iproute2's ip to bind a network namespace"))
    func aHostNamespaceMountDoesNotBreakTheSnapshot() throws {
        let name = "snapharness-test-\(getpid())"
        #expect(HostFootprint.shell("ip netns add \(name) 2>&1; echo $?").hasSuffix("0\n"))
        defer { _ = HostFootprint.shell("ip netns del \(name) 2>&1") }
        try #require(ProcFile.read("/proc/self/mountinfo")?.contains("/run/netns/\(name) ") == true)
        let r = try CLI.run(["run", CLI.example("hello")])
        #expect(r.exitCode == 0, "\(r)")
        #expect(!r.stderr.contains("doesn't have a proper root mount"), "\(r)")
    }

    @Test func aBundledBoto3WinsOverTheRuntimes() throws {
        let r = try CLI.run(["run", CLI.fixture("bundled_boto3"), "--handler", "lambda_function.handler"])
        #expect(r.exitCode == 0, "\(r)")
        #expect(object(r.json)["version"] as? String == "1.0.0-bundled"
                && object(r.json)["file"] as? String == "/var/task/boto3/__init__.py", "\(r.stdout)")
    }

    @Test func theNewestSnapStartRuntimeIsTheDefault() throws {
        let installed = PythonInterpreter.installed()
        let supported = PythonInterpreter.runtimes.filter { installed[String($0.dropFirst("python".count))] != nil }
        try #require(!supported.isEmpty, "this machine has no Python 3.12+ (pyenv or system)")
        let r = try CLI.run(["run", probe, "--handler", "lambda_function.handler"])
        #expect(r.exitCode == 0, "\(r)")
        let version = object(r.json)["version"] as? [Int] ?? []
        #expect("python\(version.map(String.init).joined(separator: "."))" == supported.last, "\(r.stdout)")
        #expect(r.stderr.contains("INIT_START Runtime Version: \(supported.last!.replacingOccurrences(of: "python", with: "python:"))"),
                "\(r.stderr.prefix(300))")
        let bad = try CLI.run(["run", probe, "--runtime", "python3.9"])
        #expect(bad.exitCode == 1 && bad.stderr.contains("--runtime must be one of python3.12, python3.13, python3.14"), "\(bad)")
        let old = try CLI.run(["run", probe, "--handler", "lambda_function.handler", "--python", "/usr/bin/python3.11"])
        #expect(old.exitCode == 0 && old.stderr.contains("SnapStart supports Python 3.12 and later"), "\(old)")
    }

    @Test func aSnapshotCarriesTheFunctionsCode() throws {
        let dir = TestEnvironment.scratchDirectory("self-contained")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: probe, toPath: dir + "/function")
        let made = try CLI.run(["snapshot", dir + "/function", "--handler", "lambda_function.handler", "-o", dir + "/snap"])
        try #require(made.exitCode == 0, "\(made)")
        try FileManager.default.removeItem(atPath: dir + "/function")
        let r = try CLI.run(["restore", dir + "/snap"])
        #expect(r.exitCode == 0, "the code folder is gone, the snapshot's copy serves: \(r)")
        #expect(object(r.json)["file"] as? String == "/var/task/lambda_function.py")
        // An interpreter this machine does not have: said before CRIU runs.
        let manifestPath = dir + "/snap/manifest.json"
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
        var function = object(manifest["function"]), filesystem = object(function["filesystem"])
        filesystem["language"] = "/opt/no-such-python"
        function["filesystem"] = filesystem
        manifest["function"] = function
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        chmod(manifestPath, 0o600)
        let missing = try CLI.run(["restore", dir + "/snap"])
        #expect(missing.exitCode == 1 && missing.stderr.contains("the interpreter's installation (/opt/no-such-python)"), "\(missing)")
    }

    // MARK: - Memory and CPU

    @Test(.enabled(if: EnvironmentCgroup.available, "needs a cgroup memory controller (v1 or v2)"))
    func theMemorySizeIsEnforcedPerEnvironment() throws {
        let dir = TestEnvironment.scratchDirectory("memory")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"allocateMB": 400}"#.write(toFile: dir + "/e.json", atomically: true, encoding: .utf8)
        try leavesNothingBehind {
            let small = try CLI.run(["run", probe, "--handler", "lambda_function.handler", "--event", dir + "/e.json",
                                     "--memory", "128"])
            #expect(small.exitCode == 8, "\(small)")
            #expect(small.stdout.contains("\"errorType\":\"Runtime.OutOfMemory\""), "\(small)")
            #expect(small.stderr.contains("Status: error\tError Type: Runtime.OutOfMemory"), "\(small.stderr)")
            let large = try CLI.run(["run", probe, "--handler", "lambda_function.handler", "--event", dir + "/e.json",
                                     "--memory", "1024", "--cpu", "lambda"])
            #expect(large.exitCode == 0, "\(large)")
            let report = large.stderr.split(separator: "\n").first { $0.hasPrefix("REPORT ") } ?? ""
            let used = report.range(of: "Max Memory Used: ").map { Int(report[$0.upperBound...].prefix { $0.isNumber }) ?? 0 } ?? 0
            #expect(used >= 400 && used < 600, "the restored copy's cgroup peak: \(report)")
            let initOOM = try CLI.run(["run", probe, "--handler", "lambda_function.handler", "--env", "INIT_ALLOCATE_MB=300"])
            #expect(initOOM.exitCode == 3 && initOOM.stderr.contains("Error Type: Runtime.OutOfMemory"), "\(initOOM)")
        }
        let badCPU = try CLI.run(["run", probe, "--cpu", "fast"])
        #expect(badCPU.exitCode == 1 && badCPU.stderr.contains("--cpu must be host or lambda"), "\(badCPU)")
    }
}
