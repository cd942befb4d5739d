import Foundation
import Glibc
import SnapHarness
import Testing

/// Issue "Hardening, round 3": each case failed on the main before its fix and passes after it, and leaves nothing
/// behind (function processes, pasta, loop devices, cgroups, temporary folders).
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct HardeningRound3Tests {
    /// Runs `command` in bash and returns snapharness's own exit code (the first of the pipeline).
    func pipeline(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command + "; exit ${PIPESTATUS[0]}"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
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
}
