import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// The executable finds its runtime files and CRIU from where it is, never from a path compiled into it.
struct InstallationTests {
    @Test func aBuildFindsTheCheckoutItLivesIn() throws {
        let root = TestEnvironment.repoRoot
        #expect(Installation.locate(environment: [:]) == .checkout(root), "from the test executable under .build")
        #expect(Installation.locate(environment: ["SNAPHARNESS_HOME": root]) == .checkout(root))
        #expect(try RuntimeFiles.locate(environment: [:]).agent == root + "/Sources/SnapHarnessEngine/Runtime/python/snapharness_bootstrap.py")
    }

    @Test func aHomeWithNeitherLayoutIsRefusedWithTheFix() {
        let env = ["SNAPHARNESS_HOME": "/nonexistent/snapharness"]
        #expect(Installation.locate(environment: env) == nil)
        do {
            _ = try RuntimeFiles.locate(environment: env)
            Issue.record("a home without runtime files was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("SNAPHARNESS_HOME=/nonexistent/snapharness is neither a checkout nor an install prefix"), "\(text)")
            #expect(text.contains("make install PREFIX=DIR"), "\(text)")
        }
    }

    /// `make install`'s layout, then moved elsewhere: the copy uses its own CRIU, libcriu and runtime files.
    @Test(.enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
    func anInstalledCopyWorksWhereverItIsMoved() throws {
        let dir = TestEnvironment.scratchDirectory("install")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let installed = HostFootprint.shell("bash '\(TestEnvironment.repoRoot)/scripts/install.sh' '\(CLI.binary)' '\(dir)/prefix' 2>&1; echo \"exit $?\"")
        try #require(installed.hasSuffix("exit 0\n"), "\(installed)")
        let moved = dir + "/elsewhere"
        try #require(rename(dir + "/prefix", moved) == 0)
        let bin = moved + "/bin/snapharness"
        let unset = ["SNAPHARNESS_HOME": "", "SNAPHARNESS_CRIU": ""]

        let doctor = try CLI.run(["doctor"], environment: unset, executable: bin)
        #expect(doctor.exitCode == 0, "\(doctor)")
        #expect(doctor.stdout.contains("\(moved)/lib/snapharness/criu/sbin/criu, version"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("linked from \(moved)/lib/snapharness/criu/lib/libcriu.so"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("\(moved) (install prefix): snapshot_restore_py 1.0.0"), "\(doctor.stdout)")

        let run = try CLI.run(["run", CLI.example("hello"), "--restores", "2"], environment: unset, executable: bin)
        #expect(run.exitCode == 0, "\(run)")
        #expect(run.stderr.components(separatedBy: "RESTORE_REPORT").count == 3, "\(run.stderr)")
    }
}
