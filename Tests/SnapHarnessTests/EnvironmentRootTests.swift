import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// Each environment's root is its own, built from an allow-list: no host mount reaches it (so nothing the host mounts
/// or unmounts can change what a snapshot is), no host file is readable in it, and /etc holds Lambda's facts.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct EnvironmentRootTests {

    /// An overlay mounted on the host during the snapshot and gone before the restore (what container engines do per
    /// container): the snapshot never recorded it.
    @Test func aHostMountThatComesAndGoesDoesNotReachTheSnapshot() throws {
        let dir = TestEnvironment.scratchDirectory("foreign")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["l", "u", "w", "m"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        let mounted = mount("overlay", dir + "/m", "overlay", 0, "lowerdir=\(dir)/l,upperdir=\(dir)/u,workdir=\(dir)/w")
        try #require(mounted == 0, "mount overlay: \(String(cString: strerror(errno)))")
        var unmounted = false
        defer { if !unmounted { umount2(dir + "/m", Int32(MNT_DETACH)) } }
        let snap = try CLI.run(["snapshot", CLI.example("hello"), "-o", dir + "/snap"])
        #expect(snap.exitCode == 0, "\(snap)")
        unmounted = umount2(dir + "/m", 0) == 0
        #expect(unmounted)
        let restored = try CLI.run(["restore", dir + "/snap", "--count", "2"])
        #expect(restored.exitCode == 0, "restore after the host's overlay went: \(restored)")
        #expect(restored.jsonLines.count == 2, "\(restored)")
    }

    /// Another snapharness restoring copies beside the snapshots (its /tmp views come and go on the host): every
    /// snapshot taken meanwhile restores.
    @Test func snapshotsTakenBesideARestoreLoopAllRestore() throws { try leavesNothingBehind {
        let dir = TestEnvironment.scratchDirectory("beside")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #require(try CLI.run(["snapshot", CLI.example("hello"), "-o", dir + "/busy"]).exitCode == 0)
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: "/bin/bash")
        let stop = dir + "/stop"
        loop.arguments = ["-c", "n=0; while [ ! -e \(stop) ]; do \"$0\" restore \(dir)/busy --count 4 >/dev/null 2>&1; n=$((n+1)); done; echo $n",
                          CLI.binary]
        let out = Pipe()
        loop.standardOutput = out
        try loop.run()
        var failures: [String] = []
        for i in 1...4 {
            let snap = try CLI.run(["snapshot", CLI.example("hello"), "-o", dir + "/s\(i)"])
            guard snap.exitCode == 0 else { failures.append("snapshot \(i): \(snap)"); continue }
        }
        #expect(FileManager.default.createFile(atPath: stop, contents: nil))
        loop.waitUntilExit()
        let rounds = Int(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(rounds >= 1, "the restore loop ran beside the snapshots")
        for i in 1...4 where FileManager.default.fileExists(atPath: dir + "/s\(i)") {
            let r = try CLI.run(["restore", dir + "/s\(i)"])
            if r.exitCode != 0 { failures.append("restore of snapshot \(i): \(r)") }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    } }

    /// What the function sees, in Init's environment and in a restored copy alike: only its own mounts, none of the
    /// host's files, Lambda's user and names.
    @Test(arguments: RuntimeClient.allCases)
    func theEnvironmentSeesItsOwnRootOnly(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("hostfile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let secret = dir + "/world-readable.txt"
        try "host data".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o644)
        try "{\"host_file\": \"\(secret)\"}".write(toFile: dir + "/event.json", atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", CLI.fixture("env_root"), "--event", dir + "/event.json"] + client.flags)
        #expect(r.exitCode == 0, "\(r)")
        let seen = object(r.json)
        let allowed: Set<String> = ["/", "/usr", "/var/task", "/var/runtime", "/var/runtime/snapharness", "/var/lang",
                                    "/opt", "/tmp", "/proc"]
        let mounts = seen["mounts"] as? [String] ?? []
        #expect(!mounts.isEmpty && Set(mounts).isSubset(of: allowed), "only the environment's own mounts: \(mounts)")
        #expect(seen["host_file"] as? Bool == false && seen["host_file_folder"] as? Bool == false,
                "a world-readable host file is absent: \(seen)")
        for folder in ["home", "run", "srv", "mnt"] { #expect(seen[folder] as? Bool == false, "/\(folder) is the host's: \(seen)") }
        #expect(seen["users"] as? [String] == ["nobody", "root", "sbx_user1051"], "Lambda's users, not the host's: \(seen)")
        #expect(seen["me"] as? String == "sbx_user1051")
        #expect(seen["hostname"] as? String == EnvironmentRoot.hostname)
        #expect(seen["sandbox"] as? String == EnvironmentRoot.address, "sandbox.localdomain resolves: \(seen)")
        #expect(seen["dev"] as? [String] == ["fd", "full", "null", "random", "stderr", "stdin", "stdout", "tty", "urandom", "zero"],
                "\(seen)")
        #expect(seen["write_root"] as? String == "Read-only file system" && seen["dev_null"] as? String == "ok", "\(seen)")
        #expect(seen["urandom"] as? Int == 16)
    }
}
