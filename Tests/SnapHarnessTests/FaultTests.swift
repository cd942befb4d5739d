import Foundation
import Glibc
import Testing

/// The fault matrix: each fault ends with a non-zero exit, a message naming the phase and the cause, and nothing
/// left behind (no function or CRIU process, mount, nftables table or temporary folder; a good snapshot untouched).
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct FaultTests {
    let behaviours = CLI.fixture("behaviours")


    // MARK: 1-2. Bad folders and Init failures

    @Test func badHandlerFolders() throws {
        try leavesNothingBehind {
            let notDir = try CLI.run(["run", behaviours + "/lambda_function.py"])
            #expect(notDir.exitCode == 1 && notDir.stderr.contains("is not a folder"), "\(notDir)")
            let noHandler = try CLI.run(["run", CLI.fixture("no_handler"), "--json"])
            #expect(noHandler.exitCode == 3, "\(noHandler)")
            #expect(noHandler.report?.failure?.error?.errorMessage
                    == "Unable to import module 'lambda_function': No module named 'lambda_function'")
        }
    }

    @Test func initKilledBySignal() throws {
        try leavesNothingBehind {
            let r = try CLI.run(["run", behaviours, "--env", "MODE=init_segv"])
            #expect(r.exitCode == 3, "\(r)")
            #expect(r.stderr.contains("Init failed") && r.stderr.contains("killed by signal 11"), "\(r)")
        }
    }

    // MARK: 5. Output flood

    @Test func handlerPrinting10MBStillAnswers() throws {
        try leavesNothingBehind {
            let r = try CLI.run(["run", behaviours, "--env", "MODE=handler_print_10mb", "--timeout", "20"])
            #expect(r.exitCode == 0, "exit \(r.exitCode): \(r.stderr.suffix(2000))")
            #expect(r.stderr.utf8.count > 10 << 20, "the output passes through")
            #expect(r.stderr.contains("line 999"))
            #expect(object(r.json)["calls"] != nil)
        }
    }

    // MARK: 6. CRIU cannot dump

    @Test func dumpFailureShowsCriusReasonAndStopsTheFunction() throws {
        let dir = TestEnvironment.scratchDirectory("dumpfail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try leavesNothingBehind {
            let r = try CLI.run(["snapshot", behaviours, "-o", dir + "/snap", "--env", "MODE=init_deleted_file",
                                 "--env", "SCRATCH_DIR=/tmp"]) // the only writable place, as on Lambda
            #expect(r.exitCode == 5, "\(r)")
            #expect(r.stderr.contains("checkpoint failed") && r.stderr.contains("Error ("), "CRIU's reason: \(r)")
            #expect(r.stderr.contains("ghost"), "CRIU names the deleted file: \(r)")
            #expect(!r.stderr.contains("returned -52)\n") || r.stderr.contains("Error ("))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no snapshot, no staging folder")
        }
        removeKeptCriuLogs()
    }

    // MARK: 7. CRIU cannot restore

    @Test func damagedSnapshotsAreRefusedWithTheReason() throws {
        let dir = TestEnvironment.scratchDirectory("damaged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        let made = try CLI.run(["snapshot", CLI.example("hello"), "-o", snap])
        try #require(made.exitCode == 0, "\(made)")
        let fm = FileManager.default
        try leavesNothingBehind {
            // Pages deleted, or a core image overwritten: refused before CRIU reads them (the manifest's digests).
            let copy1 = dir + "/nopages"
            try fm.copyItem(atPath: snap, toPath: copy1)
            for f in try fm.contentsOfDirectory(atPath: copy1 + "/images") where f.hasPrefix("pages-") {
                try fm.removeItem(atPath: copy1 + "/images/" + f)
            }
            let r1 = try CLI.run(["restore", copy1])
            #expect(r1.exitCode == 1, "\(r1)")
            #expect(r1.stderr.contains("is damaged: images/pages-") && r1.stderr.contains("is missing"), "\(r1)")
            let copy2 = dir + "/corrupt"
            try fm.copyItem(atPath: snap, toPath: copy2)
            let core = try #require(try fm.contentsOfDirectory(atPath: copy2 + "/images").first { $0.hasPrefix("core-") })
            try Data(repeating: 0x5a, count: 64).write(to: URL(fileURLWithPath: copy2 + "/images/" + core))
            let r2 = try CLI.run(["restore", copy2])
            #expect(r2.exitCode == 1 && r2.stderr.contains("is damaged: images/\(core)"), "\(r2)")
            // Without digests (a snapshot of an older snapharness), CRIU's own reason reaches the user.
            let manifestPath = copy1 + "/manifest.json"
            var manifest1 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
            manifest1["images"] = nil
            try JSONSerialization.data(withJSONObject: manifest1).write(to: URL(fileURLWithPath: manifestPath))
            chmod(manifestPath, 0o600)
            let r1b = try CLI.run(["restore", copy1])
            #expect(r1b.exitCode == 6, "\(r1b)")
            #expect(r1b.stderr.contains("restore failed") && r1b.stderr.contains("Error ("), "\(r1b)")
            #expect(!r1b.stderr.contains("RLIMIT_NOFILE"), "known-harmless CRIU lines are not shown: \(r1b)")
            // Another CRIU version.
            let copy3 = dir + "/foreign-criu"
            try fm.copyItem(atPath: snap, toPath: copy3)
            var manifest = try String(contentsOfFile: copy3 + "/manifest.json", encoding: .utf8)
            manifest = manifest.replacingOccurrences(of: "\"criuVersion\" : \"", with: "\"criuVersion\" : \"3.17.")
            try manifest.write(toFile: copy3 + "/manifest.json", atomically: true, encoding: .utf8)
            chmod(copy3 + "/manifest.json", 0o600)
            let r3 = try CLI.run(["restore", copy3])
            #expect(r3.exitCode == 1 && r3.stderr.contains("was taken with CRIU 3.17."), "\(r3)")
            // A malformed manifest.
            try "{\"format\": 7".write(toFile: copy3 + "/manifest.json", atomically: true, encoding: .utf8)
            chmod(copy3 + "/manifest.json", 0o600)
            let r4 = try CLI.run(["restore", copy3])
            #expect(r4.exitCode == 1 && r4.stderr.contains("manifest.json is malformed"), "\(r4)")
        }
        // The original still restores.
        let again = try CLI.run(["restore", snap])
        #expect(again.exitCode == 0, "\(again)")
    }

    // MARK: 8. Where the snapshot goes

    @Test func outputThatIsNotASnapshotIsNeverOverwritten() throws {
        let dir = TestEnvironment.scratchDirectory("notsnap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "precious".write(toFile: dir + "/data.txt", atomically: true, encoding: .utf8)
        let r = try CLI.run(["snapshot", CLI.example("hello"), "-o", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("is not a snapshot"), "\(r)")
        #expect(!r.stderr.contains("INIT_START"), "refused before Init")
        #expect(try String(contentsOfFile: dir + "/data.txt", encoding: .utf8) == "precious")
    }

    @Test func failedSnapshotLeavesTheGoodOneUntouched() throws {
        let dir = TestEnvironment.scratchDirectory("keep")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        try #require(try CLI.run(["snapshot", behaviours, "-o", snap]).exitCode == 0)
        let manifest = try String(contentsOfFile: snap + "/manifest.json", encoding: .utf8)
        let r = try CLI.run(["snapshot", behaviours, "-o", snap, "--env", "MODE=before_raise"])
        #expect(r.exitCode == 4)
        #expect(try String(contentsOfFile: snap + "/manifest.json", encoding: .utf8) == manifest)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["snap"], "no staging folder left")
        #expect(try CLI.run(["restore", snap]).exitCode == 0)
    }

    /// A full disk is only found out by the dump (exit 5, CRIU's reason); a read-only one before Init (exit 1).
    @Test func fullOrReadOnlyDiskDuringTheDump() throws {
        for (flags, options, code, words) in [(UInt(0), "size=256k", Int32(5), "No space left"),
                                              (UInt(MS_RDONLY), "size=1m", Int32(1), "is not writable (Read-only file system)")] {
            var template = Array("/run/sh-test-mnt-XXXXXX".utf8CString)
            let mnt = String(cString: try #require(mkdtemp(&template)))
            defer { umount2(mnt, Int32(MNT_DETACH)); rmdir(mnt) }
            try #require(mount("tmpfs", mnt, "tmpfs", flags, options) == 0, "mount tmpfs: \(errno)")
            try leavesNothingBehind {
                let r = try CLI.run(["snapshot", CLI.example("hello"), "-o", mnt + "/snap"])
                #expect(r.exitCode == code, "\(options): \(r)")
                #expect(r.stderr.contains(code == 5 ? "checkpoint failed" : "cannot write a snapshot") && r.stderr.contains(words),
                        "\(options): \(r)")
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: mnt)) ?? []).isEmpty)
            }
        }
        removeKeptCriuLogs()
    }

    // MARK: 9. Interrupted

    @Test(arguments: [
        ("Init", ["run", "--env", "MODE=init_sleep"], "INIT_START", 0.3),
        ("dump", ["run", "--env", "MODE=big_heap", "--memory", "1024"], "INIT_REPORT", 0.0),
        ("restore", ["run", "--env", "MODE=big_heap", "--memory", "1024"], "RESTORE_START", 0.0),
        ("invoke", ["run", "--env", "MODE=handler_sleep", "--timeout", "30"], "START RequestId", 0.2),
    ])
    func interruptedAnywhereCleansUp(phase: String, args: [String], marker: String, delay: Double) throws {
        for sig in [SIGINT, SIGTERM] {
            let dir = TestEnvironment.scratchDirectory("sig")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try leavesNothingBehind {
                let (r, signalled) = try CLI.runSignalled([args[0], behaviours] + args.dropFirst(), signal: sig,
                                                          when: marker, delay: delay)
                #expect(signalled, "\(phase): never saw \(marker): \(r)")
                // A signal that lands after the phase completed may let the run finish; otherwise 128+signal.
                #expect(r.exitCode == 128 + sig || r.exitCode == 0, "\(phase) \(sig): \(r)")
                if r.exitCode != 0 { #expect(r.stderr.contains("interrupted by"), "\(r)") }
            }
        }
    }

    /// A signal landing just before or during the dump: the function is killed at once, and CRIU must not be left
    /// waiting for it (a dump started after the signal, or a swrk killed without its helpers, used to hang the run
    /// until CI's limit: CRIU's early helper lives for about a millisecond). Delays of 0-7.5 ms after INIT_REPORT
    /// spread the signal over the moments around the start of the dump.
    @Test func interruptAroundTheDumpNeverHangs() throws {
        try leavesNothingBehind {
            for i in 0..<16 {
                let sig = i % 2 == 0 ? SIGINT : SIGTERM
                let (r, signalled) = try CLI.runSignalled(["run", behaviours, "--env", "MODE=big_heap", "--memory", "1024"],
                                                          signal: sig, when: "INIT_REPORT", delay: Double(i) * 0.0005,
                                                          timeout: 30)
                #expect(signalled && (r.exitCode == 128 + sig || r.exitCode == 0), "delay \(Double(i) * 0.5) ms: \(r)")
            }
        }
    }

    // MARK: 10. Many copies

    @Test func sixteenConcurrentCopies() throws {
        try leavesNothingBehind {
            let r = try CLI.run(["run", CLI.example("hello"), "--restores", "16"])
            #expect(r.exitCode == 0, "\(r.stderr.suffix(3000))")
            let copies = Set(r.jsonLines.compactMap { object($0)["copy"] as? Int })
            #expect(copies == Set(1...16))
        }
    }
}
