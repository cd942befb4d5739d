import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// What the integration tests need, and why they skip without it (reported as skipped, never as passed).
enum TestEnvironment {
    static let isRoot = geteuid() == 0
    static let criu: Criu? = try? Criu.locate()
    static var canCheckpoint: Bool { isRoot && criu != nil }
    static let skipReason: Comment = "needs root and CRIU >= 4.2 (run `make test` as root; `make deps` builds CRIU)"

    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()

    static let python: String = (try? PythonInterpreter.resolve()) ?? "/usr/bin/python3"

    /// A function folder `dir/name` (0755) holding `source` as lambda_function.py (0644), readable by the function's
    /// unprivileged user.
    static func function(in dir: String, named name: String = "fn", source: String) throws -> String {
        let folder = dir + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        chmod(folder, 0o755)
        try source.write(toFile: folder + "/lambda_function.py", atomically: true, encoding: .utf8)
        chmod(folder + "/lambda_function.py", 0o644)
        return folder
    }

    /// A fresh 0700 directory under /tmp (short paths keep Unix socket names under 108 bytes).
    static func scratchDirectory(_ tag: String) -> String {
        var template = Array("/tmp/sh-test-\(tag)-XXXXXX".utf8CString)
        return String(cString: mkdtemp(&template)!)
    }
}

/// What the host looks like, to prove a test left nothing behind.
struct HostFootprint: Equatable, CustomStringConvertible {
    var criuProcesses: [String]
    var mounts: Int
    var nftCriuTables: Int
    var children: [Int32]
    /// Function processes (the runtime agent) anywhere on the machine.
    var functionProcesses: [String] = []
    /// pasta processes giving an environment its network (their namespaces go with them).
    var pastaProcesses: [String] = []
    /// snapharness's temporary folders: /tmp/snapharness-*, /run/snapharness/ctl-*, environments' cgroups.
    var tempEntries: [String] = []
    /// Loop devices backed by a /tmp disk (Init's image or a snapshot's `tmp.ext4`).
    var loopDevices: [String] = []

    static func take() -> HostFootprint {
        let ps = shell("ps -eo pid=,args= | grep -E 'criu (swrk|restore|dump|lazy-pages)' | grep -v grep || true")
        let mounts = ProcFile.read("/proc/self/mountinfo")?.split(separator: "\n").count ?? -1
        let nft = shell("nft list tables 2>/dev/null | grep -ci criu || true")
        let agents = shell("ps -eo pid=,args= | grep snapharness_bootstrap.py | grep -v grep || true")
        let cgroups = shell("find /sys/fs/cgroup -maxdepth 5 -type d -name 'snapharness-*' 2>/dev/null || true")
            .split(separator: "\n").map(String.init)
        let temps = cgroups + ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [])
            .filter { $0.hasPrefix("snapharness-run-") || $0.hasPrefix("snapharness-restore-") || $0.hasPrefix("snapharness-dump-")
                || $0.hasPrefix("snapharness-storage-") || $0.hasPrefix(".criu.mntns.") }
            .map { "/tmp/" + $0 }
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/run/snapharness")) ?? [])
                .filter { !["roots", "empty"].contains($0) }.map { "/run/snapharness/" + $0 } // shared, by design
        return HostFootprint(criuProcesses: ps.split(separator: "\n").map(String.init), mounts: mounts,
                             nftCriuTables: Int(nft.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
                             children: ProcFile.children(),
                             functionProcesses: agents.split(separator: "\n").map(String.init),
                             pastaProcesses: shell("ps -eo pid=,args= | grep 'pasta --config-net' | grep -v grep || true")
                                .split(separator: "\n").map(String.init),
                             tempEntries: temps.sorted(),
                             loopDevices: shell("grep -l 'tmp.ext4' /sys/block/loop*/loop/backing_file 2>/dev/null || true")
                                .split(separator: "\n").map(String.init))
    }

    var description: String {
        "criu processes: \(criuProcesses), mounts: \(mounts), nft criu tables: \(nftCriuTables), children: \(children), "
            + "function processes: \(functionProcesses), pasta: \(pastaProcesses), temporary entries: \(tempEntries), "
            + "loop devices: \(loopDevices)"
    }

    static func shell(_ command: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs `body` and checks the host looks as it did before: no function or CRIU process, temporary folder, CRIU
/// yard, mount or nftables table left (the fault tests' common ending).
func leavesNothingBehind(_ body: () throws -> Void) rethrows {
    let before = HostFootprint.take()
    try body()
    usleep(100_000)
    let after = HostFootprint.take()
    #expect(after.functionProcesses.isEmpty, "function processes left: \(after.functionProcesses)")
    #expect(after.criuProcesses == before.criuProcesses, "CRIU processes left: \(after.criuProcesses)")
    #expect(after.pastaProcesses == before.pastaProcesses, "pasta processes left: \(after.pastaProcesses)")
    #expect(after.tempEntries == before.tempEntries, "temporary entries left: \(after.tempEntries)")
    #expect(after.loopDevices == before.loopDevices, "loop devices left: \(after.loopDevices)")
    #expect(after.mounts == before.mounts && after.nftCriuTables == before.nftCriuTables, "\(before) -> \(after)")
}

/// A failed CRIU call keeps its log in /tmp for the user; the tests that provoke one clean it up.
func removeKeptCriuLogs() {
    for log in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where log.hasPrefix("snapharness-log-") {
        unlink("/tmp/" + log)
    }
}
