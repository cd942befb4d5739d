import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// The foundation with real CRIU: a stateful process with a TCP connection, checkpointed, restored one after
/// another and concurrently.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint, TestEnvironment.skipReason))
struct CheckpointRestoreTests {
    let criu = TestEnvironment.criu!

    static func counts(_ lines: [String]) -> [Int] {
        lines.compactMap { line in
            guard line.hasPrefix("count="), let sp = line.firstIndex(of: " ") else { return nil }
            return Int(line[line.index(line.startIndex, offsetBy: 6)..<sp])
        }
    }

    func spawnCounter(server: TCPServer, output: LineCollector) throws -> SandboxedProcess {
        // The environment's root holds no checkout and no interpreter: both are bound in, as Lambda's folders are.
        let python = URL(fileURLWithPath: TestEnvironment.python)
        let prefix = python.deletingLastPathComponent().deletingLastPathComponent().path
        var spec = SandboxSpec(executable: "/var/lang/bin/" + python.lastPathComponent,
                               arguments: ["-u", "/var/task/counter.py", "127.0.0.1", String(server.port)])
        spec.binds = [(TestEnvironment.repoRoot + "/Examples/counter", "/var/task"), (prefix, "/var/lang")]
        return try SandboxedProcess.spawn(spec) { kind, line in if kind == .stdout { output.append(line) } }
    }

    /// Waits for the first line a restored copy prints and checks it continues the checkpointed state.
    func expectContinues(_ copy: SandboxedProcess, _ output: LineCollector, after last: Int) {
        let got = output.wait(timeout: 10) { !$0.isEmpty }
        #expect(got, "restored copy \(copy.pid) printed nothing")
        guard let first = output.all.first else { return }
        #expect(Self.counts([first]) == [last + 1], "first line after restore: \(first); checkpointed at \(last)")
        #expect(first.contains("tcp=dead"), "TCP socket should be dead after restore: \(first)")
    }

    @Test func checkpointThenRestoreSequentiallyAndConcurrently() throws {
        let before = HostFootprint.take()
        let server = try TCPServer()
        defer { server.stop() }
        let scratch = TestEnvironment.scratchDirectory("cr")
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let original = LineCollector()
        let process = try spawnCounter(server: server, output: original)
        let started = original.wait(timeout: 10) { Self.counts($0).count >= 5 }
        guard started else {
            process.terminate()
            Issue.record("counter did not start: \(original.all)")
            return
        }
        #expect(original.all.allSatisfy { $0.hasSuffix("tcp=ok") })

        let snapshot = SnapshotDirectory(path: scratch + "/snap")
        let t0 = Clock.now
        let manifest = try criu.checkpoint(process, to: snapshot)
        let dumpMs = (Clock.now - t0) * 1000
        #expect(process.process.poll() != nil, "CRIU should have ended the checkpointed tree")
        let last = try #require(Self.counts(original.all).last)
        #expect(server.lines >= 5)
        #expect(manifest.imageBytes > 0)
        var st = stat()
        #expect(stat(snapshot.path, &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(stat(snapshot.imagesPath + "/inventory.img", &st) == 0 && st.st_mode & 0o777 == 0o600)

        // One after another: the same pid comes back each time, so each copy must be gone before the next.
        var restoreMs: [Double] = []
        for _ in 0..<3 {
            let out = LineCollector()
            let t = Clock.now
            let copy = try criu.restore(snapshot) { kind, line in if kind == .stdout { out.append(line) } }
            restoreMs.append((Clock.now - t) * 1000)
            expectContinues(copy, out, after: last)
            copy.terminate()
        }

        // Side by side: each copy gets a pid namespace of its own.
        let outs = (0..<3).map { _ in LineCollector() }
        var copies: [SandboxedProcess] = []
        defer { copies.forEach { $0.terminate() } }
        let t1 = Clock.now
        let criu = self.criu
        let restored = Concurrently.map(outs.count) { i in
            Result { try criu.restore(snapshot) { kind, line in if kind == .stdout { outs[i].append(line) } } }
        }
        copies = try restored.map { try $0.get() }
        let concurrentMs = (Clock.now - t1) * 1000
        #expect(Set(copies.map(\.pid)).count == 3)
        for (copy, out) in zip(copies, outs) {
            expectContinues(copy, out, after: last)
            #expect(copy.process.poll() == nil, "copy \(copy.pid) should still run alongside the others")
        }
        copies.forEach { $0.terminate() }
        copies.removeAll()
        print("timing: dump \(Int(dumpMs)) ms, image \(manifest.imageBytes / 1024) KiB, sequential restores "
              + "\(restoreMs.map { Int($0) }) ms, 3 concurrent restores \(Int(concurrentMs)) ms")

        server.stop()
        let after = HostFootprint.take()
        #expect(after == before, "left behind: before \(before); after \(after)")
    }

    @Test func checkpointOfMissingProcessSurfacesCriuReason() throws {
        let scratch = TestEnvironment.scratchDirectory("bad")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // A process that is gone by the time CRIU looks.
        let process = try SandboxedProcess.spawn(SandboxSpec(executable: "/bin/true")) { _, _ in }
        process.waitForExit(timeout: 10)
        let snapshot = SnapshotDirectory(path: scratch + "/snap")
        do {
            try criu.checkpoint(process, to: snapshot)
            Issue.record("checkpoint of a reaped pid succeeded")
        } catch let error as CriuError {
            defer { if let log = error.logPath { unlink(log) } }
            #expect(!error.reasons.isEmpty, "no CRIU reason in \(error)")
            #expect(error.reasons.contains { $0.hasPrefix("Error (") }, "\(error.reasons)")
            #expect(!String(describing: error).contains("-52") || error.reasons.count > 0)
        }
        #expect(!FileManager.default.fileExists(atPath: snapshot.path), "a failed dump must not leave a snapshot")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch)
        #expect(leftovers.isEmpty, "staging directories left: \(leftovers)")
    }

    @Test func restoreOfForeignDirectoryIsAClearError() throws {
        let scratch = TestEnvironment.scratchDirectory("foreign")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        #expect(throws: SnapshotError.self) {
            _ = try criu.restore(SnapshotDirectory(path: scratch)) { _, _ in }
        }
        do {
            _ = try criu.restore(SnapshotDirectory(path: scratch)) { _, _ in }
        } catch {
            #expect(String(describing: error).contains("no manifest.json"))
        }
    }
}
