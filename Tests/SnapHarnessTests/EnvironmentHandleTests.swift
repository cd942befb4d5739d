import Foundation
import Glibc
import Synchronization
import SnapHarnessEngine
import Testing

/// `RestoredEnvironment` is the handle `run`, `bench` and (later) `serve` share: it owns one restored copy, and
/// calls from several threads take turns on it, as invocations take turns on one Lambda environment.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint, TestEnvironment.skipReason))
struct EnvironmentHandleTests {
    @Test func invocationsFromTwoThreadsTakeTurnsOnOneEnvironment() throws {
        let dir = TestEnvironment.scratchDirectory("handle")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/fn", withIntermediateDirectories: true)
        try """
        import os, time
        def lambda_handler(event, context):
            start = time.monotonic()
            time.sleep(0.3)
            return {"id": event["id"], "pid": os.getpid(), "start": start, "end": time.monotonic()}
        """.write(toFile: dir + "/fn/lambda_function.py", atomically: true, encoding: .utf8)
        chmod(dir, 0o755)
        let criu = try #require(TestEnvironment.criu)
        let python = try PythonInterpreter.choose(runtime: nil, python: nil) { _ in }.path
        let lifecycle = Lifecycle(criu: criu, log: LambdaLog(sink: { _ in }))
        var report = LifecycleReport()
        let snapshot = SnapshotDirectory(path: dir + "/snap")
        try lifecycle.snapshot(FunctionConfig(directory: dir + "/fn", python: python), to: snapshot, report: &report)

        try leavesNothingBehind {
            let lines = Mutex<[String]>([])
            let environment = RestoredEnvironment(index: 1, criu: criu, source: try RestoreSource.open(snapshot, criu: criu),
                                                  log: LambdaLog(sink: { line in lines.withLock { $0.append(line) } }))
            defer { environment.shutdown() }
            try environment.restore()
            let results = Concurrently.map(2) { i in environment.invoke(event: "{\"id\": \(i)}", first: i == 0) }
            environment.shutdown()
            #expect(!environment.isRunning)
            let answers = try results.map { r -> [String: Any] in
                #expect(r.status == .success, "\(r)")
                let text = try #require(r.result?.text)
                return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            }
            try #require(answers.count == 2)
            #expect(answers.map { $0["id"] as? Int } == [0, 1], "each caller got its own answer: \(answers)")
            #expect(Set(answers.compactMap { $0["pid"] as? Int }).count == 1, "one environment served both")
            let spans = answers.compactMap { a -> (Double, Double)? in
                guard let s = a["start"] as? Double, let e = a["end"] as? Double else { return nil }
                return (s, e)
            }.sorted { $0.0 < $1.0 }
            try #require(spans.count == 2)
            #expect(spans[0].1 <= spans[1].0, "the second invocation began after the first ended: \(spans)")
            #expect(environment.report.invocations.count == 2 && environment.report.status == "done")
            // The environment's log never interleaves two invocations: START, END, REPORT, then the next START.
            let marks = lines.withLock { $0 }.compactMap { l -> String? in
                ["START", "END", "REPORT"].first { l.hasPrefix($0 + " RequestId") }
            }
            #expect(marks == ["START", "END", "REPORT", "START", "END", "REPORT"], "\(lines.withLock { $0 })")
        }
    }
}
