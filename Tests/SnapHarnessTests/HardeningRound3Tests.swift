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
        chmod(dir, 0o755)
        try """
            def lambda_handler(event, context):
                raise ValueError("x" * (7 * 1024 * 1024))
            """.write(toFile: dir + "/lambda_function.py", atomically: true, encoding: .utf8)
        chmod(dir + "/lambda_function.py", 0o644)
        let r = try CLI.run(["run", dir] + client.flags)
        #expect(r.exitCode == 8, "\(r.exitCode) \(r.stderr.suffix(600))")
        let error = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(error["errorType"] as? String == "Function.ResponseSizeTooLarge", "\(r.stdout.prefix(300))")
        #expect(r.stdout.utf8.count < 10_000, "the 7 MB error object is not passed on")
    }

    // MARK: 7. Snapshots: only their own files, only plausible numbers

    /// A copy that keeps tmp.ext4 sparse (a plain copy writes all 512 MB of it).
    func copySnapshot(_ from: String, _ to: String) { _ = HostFootprint.shell("cp -a --sparse=always '\(from)' '\(to)'") }

    /// A tmp.ext4 replaced by a link to another file (the copies' disk would be a host file) and manifest numbers no
    /// Lambda function can have were accepted; both are refused with what is wrong, and `inspect` says so too.
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
}
