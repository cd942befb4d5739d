import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// The function runs unprivileged, snapshots are private, only the launched process may use the control channel.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct SecurityTests {
    let behaviours = CLI.fixture("behaviours")


    @Test func functionRunsAsLambdasSandboxUserByDefault() throws {
        let r = try CLI.run(["run", behaviours], environment: ["SNAPHARNESS_USER": ""])
        #expect(r.exitCode == 0, "\(r)")
        #expect(object(r.json)["uid"] as? Int == 993 && object(r.json)["gid"] as? Int == 990, "\(r.stdout)")
        #expect(!r.stderr.contains("runs as root"))
    }

    @Test func rootIsAnOptOutWithAWarningAndUnknownUsersAreErrors() throws {
        let root = try CLI.run(["run", behaviours, "--user", "root"])
        #expect(root.exitCode == 0 && object(root.json)["uid"] as? Int == 0, "\(root)")
        #expect(root.stderr.contains("warning: the function runs as root"))
        let daemon = try CLI.run(["run", behaviours, "--user", "daemon", "--group", "nogroup"])
        #expect(daemon.exitCode == 0, "\(daemon)")
        #expect(object(daemon.json)["uid"] as? Int == Int(getpwnam("daemon")!.pointee.pw_uid))
        #expect(object(daemon.json)["gid"] as? Int == Int(getgrnam("nogroup")!.pointee.gr_gid))
        let unknown = try CLI.run(["run", behaviours, "--user", "no-such-user-here"])
        #expect(unknown.exitCode == 1 && unknown.stderr.contains("no user \"no-such-user-here\""), "\(unknown)")
    }

    @Test func snapshotsWritableByOthersAreRefused() throws {
        let dir = TestEnvironment.scratchDirectory("perm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        try #require(try CLI.run(["snapshot", CLI.example("hello"), "-o", snap]).exitCode == 0)
        for f in try FileManager.default.contentsOfDirectory(atPath: snap + "/images") {
            var st = stat()
            #expect(stat(snap + "/images/" + f, &st) == 0 && st.st_mode & 0o077 == 0, "\(f) is readable by others")
        }
        chmod(snap + "/manifest.json", 0o622)
        let r = try CLI.run(["restore", snap])
        #expect(r.exitCode == 1 && r.stderr.contains("writable by other users"), "\(r)")
        chmod(snap + "/manifest.json", 0o600)
        #expect(try CLI.run(["restore", snap]).exitCode == 0)
    }

    @Test func controlChannelAcceptsOnlyItsOwnProcess() throws {
        let listener = try ControlListener()
        defer { listener.close() }
        var st = stat()
        #expect(stat(ControlListener.baseDirectory, &st) == 0 && st.st_mode & 0o777 == 0o711)
        #expect(stat((listener.path as NSString).deletingLastPathComponent, &st) == 0 && st.st_mode & 0o777 == 0o700)
        // A stranger (this test process) connects; the process the listener waits for never does.
        let stranger = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(stranger) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(listener.path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: bytes); raw[bytes.count] = 0 }
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(stranger, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(connected == 0)
        let sleeper = try SandboxedProcess.spawn(SandboxSpec(executable: "/bin/sleep", arguments: ["5"])) { _, _ in }
        defer { sleeper.terminate() }
        #expect(try listener.acceptForTesting(from: sleeper, timeout: 0.5) == false, "a stranger was accepted")
        // The same connection is refused for its peer pid, and the stranger sees it closed.
        var byte: UInt8 = 0
        #expect(read(stranger, &byte, 1) == 0, "the supervisor should hang up on a stranger")
    }
}
