import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// /tmp as a disk of the environment's own: what Init wrote (a 50 MB file, an open SQLite database) reaches every
/// restored copy with its inode numbers, each copy's writes stay its own, and the snapshot never changes.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct EphemeralStorageTests {
    let fixture = CLI.fixture("tmp_disk")

    /// Checks one `restore --count N` run: every copy sees Init's /tmp and its own writes, never another's.
    func expectIsolatedCopies(_ r: CLIResult, copies: Int, invocations: Int) {
        #expect(r.exitCode == 0, "\(r)")
        let lines = r.jsonLines.map(object)
        #expect(lines.count == copies * invocations, "\(r)")
        var mine: [Int: [String]] = [:]
        for line in lines {
            let copy = line["copy"] as? Int ?? -1, result = object(line["result"])
            let me = result["me"] as? String ?? "?"
            mine[copy, default: []].append(me)
            #expect(result["rows"] as? [String] == ["init"] + mine[copy]!,
                    "copy \(copy) writes through the database Init opened and sees only its own rows: \(result)")
            #expect(result["model_intact"] as? Bool == true, "Init's 50 MB file reads back intact: \(result)")
            #expect(result["inode_kept"] as? Bool == true, "the database keeps the inode number it had in Init: \(result)")
            #expect(Set(result["tmp"] as? [String] ?? []) == Set(["model.bin", "state.db"] + mine[copy]!.map { "copy-" + $0 }),
                    "copy \(copy) sees Init's files and its own only: \(result)")
        }
        #expect(mine.count == copies, "\(r)")
    }

    @Test func initsTmpReachesEveryCopyAndStaysPerCopy() throws {
        let dir = TestEnvironment.scratchDirectory("tmpdisk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        try leavesNothingBehind {
            let made = try CLI.run(["snapshot", fixture, "-o", snap])
            try #require(made.exitCode == 0, "\(made)")
            // /tmp is a disk image beside CRIU's images, never CRIU's tar of a tmpfs.
            let images = try FileManager.default.contentsOfDirectory(atPath: snap + "/images")
            #expect(!images.contains { $0.hasPrefix("tmpfs-dev-") }, "no /tmp archive: \(images)")
            var st = stat()
            try #require(stat(snap + "/tmp.ext4", &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600, "the /tmp disk holds the function's data: 0600")
            #expect(st.st_blocks * 512 < 80 << 20 && st.st_size == 512 << 20,
                    "sparse: 512 MB of ephemeral storage, about 50 MB of it used (\(st.st_blocks * 512) bytes)")
            expectIsolatedCopies(try CLI.run(["restore", snap, "--count", "3", "--invocations", "2"]), copies: 3, invocations: 2)
            // The copies wrote nothing into the snapshot: later copies start from Init's /tmp again, restored lazily too
            // (the open database and the mapped pages arrive on demand).
            if LazyPages.userfaultfdAvailable() {
                let lazy = try CLI.run(["restore", snap, "--count", "2", "--lazy"])
                expectIsolatedCopies(lazy, copies: 2, invocations: 1)
                #expect(lazy.stderr.components(separatedBy: "all pages in").count == 3, "\(lazy)")
            } else {
                expectIsolatedCopies(try CLI.run(["restore", snap]), copies: 1, invocations: 1)
            }
            let inspect = try CLI.run(["inspect", snap, "--json"])
            #expect(((object(inspect.json)["tmpBytes"] as? NSNumber)?.intValue ?? 0) > 50 << 20, "\(inspect)")
        }
    }

    @Test func aDamagedTmpDiskIsRefused() throws {
        let dir = TestEnvironment.scratchDirectory("tmpdisk-damaged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = dir + "/snap"
        try #require(try CLI.run(["snapshot", CLI.example("hello"), "-o", snap]).exitCode == 0)
        try leavesNothingBehind {
            // A byte changed inside the file system (its first data extent).
            let fd = open(snap + "/tmp.ext4", O_WRONLY)
            try #require(fd >= 0)
            var byte: UInt8 = 0x5a
            #expect(pwrite(fd, &byte, 1, 1024 + 120) == 1)
            close(fd)
            let r = try CLI.run(["restore", snap])
            #expect(r.exitCode == 1 && r.stderr.contains("is damaged: the contents of tmp.ext4 differ"), "\(r)")
            try #require(truncate(snap + "/tmp.ext4", 4096) == 0)
            let t = try CLI.run(["restore", snap])
            #expect(t.exitCode == 1 && t.stderr.contains("is damaged: tmp.ext4 holds 4096 bytes"), "\(t)")
        }
    }

    @Test(.enabled(if: LazyPages.userfaultfdAvailable(), "userfaultfd is not available to this process"))
    func runRestoresLazilyAndReportsAllPagesIn() throws {
        try leavesNothingBehind {
            let r = try CLI.run(["run", CLI.example("hello"), "--restores", "2", "--lazy", "--json"])
            #expect(r.exitCode == 0, "\(r)")
            let copies = r.report?.copies ?? []
            #expect(copies.count == 2, "\(r)")
            for copy in copies {
                #expect((copy.allPagesMs ?? 0) > 0 && copy.status == "done", "every copy served and got all its pages: \(copy)")
                #expect(copy.invocations.first?.status == .success, "\(copy)")
            }
        }
    }
}
