import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// Runs the real `snapharness` executable, as a user would, and captures what it printed.
struct CLIResult: CustomStringConvertible {
    var exitCode: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(exitCode)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }

    /// stdout parsed as JSON (one document), or nil.
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed]) }

    /// stdout as `--json`'s report, decoded as the engine's own type (nil when it is not one).
    var report: LifecycleReport? { try? JSONDecoder().decode(LifecycleReport.self, from: Data(stdout.utf8)) }

    /// Each stdout line parsed as JSON.
    var jsonLines: [Any] {
        stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed]) }
    }
}

/// A JSON object as a dictionary (empty when it is not one): for reading fields of outside JSON in tests.
func object(_ any: Any?) -> [String: Any] { any as? [String: Any] ?? [:] }

enum CLI {
    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["SNAPHARNESS_BIN"], !b.isEmpty { return b }
        return TestEnvironment.repoRoot + "/.build/debug/snapharness"
    }()

    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    static func fixture(_ name: String) -> String { TestEnvironment.repoRoot + "/Tests/Fixtures/" + name }
    static func example(_ name: String) -> String { TestEnvironment.repoRoot + "/Examples/" + name }

    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                    timeout: Double = 120, executable: String = binary) throws -> CLIResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        let outData = PipeReader(out.fileHandleForReading), errData = PipeReader(err.fileHandleForReading)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        let status = stopIfHung(p, arguments, timeout) ?? -1
        return CLIResult(exitCode: status, stdout: outData.text, stderr: errData.text)
    }

    /// Runs snapharness and sends it `signal` as soon as its stderr contains `marker` (or after `fallback` seconds).
    static func runSignalled(_ arguments: [String], signal: Int32, when marker: String, delay: Double = 0,
                             timeout: Double = 120) throws -> (CLIResult, signalled: Bool) {
        try runSignalled(arguments, signal: signal, whenAll: [marker], delay: delay, timeout: timeout)
    }

    /// The same, once stderr contains every one of `markers`.
    static func runSignalled(_ arguments: [String], signal: Int32, whenAll markers: [String], delay: Double = 0,
                             timeout: Double = 120) throws -> (CLIResult, signalled: Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let outData = PipeReader(out.fileHandleForReading)
        let errText = PipeReader(err.fileHandleForReading)
        let deadline = Date().addingTimeInterval(timeout)
        var signalled = false
        while p.isRunning && Date() < deadline {
            if !signalled && markers.allSatisfy(errText.contains) {
                if delay > 0 { usleep(UInt32(delay * 1e6)) }
                kill(p.processIdentifier, signal)
                signalled = true
            }
            usleep(2_000)
        }
        let status = stopIfHung(p, arguments, timeout) ?? -1
        return (CLIResult(exitCode: status, stdout: outData.text, stderr: errText.text), signalled)
    }

    /// A run still going at its deadline fails the test and is stopped for good (its status, nil if unknown): SIGTERM, then SIGKILL to it and
    /// to everything it started (a CRIU helper holding its stderr would otherwise keep the test, and the suite,
    /// waiting until CI's own limit).
    static func stopIfHung(_ p: Process, _ arguments: [String], _ timeout: Double) -> Int32? {
        if p.isRunning {
            Issue.record("snapharness \(arguments) did not finish within \(timeout) s")
            let started = ProcFile.descendants(of: p.processIdentifier)
            p.terminate()
            let grace = Date().addingTimeInterval(5)
            while p.isRunning && Date() < grace { usleep(10_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            for pid in started { kill(pid, SIGKILL) }
            // Foundation learns of the exit when every holder of the child's descriptors is gone; a process left
            // behind may hold one, so waitUntilExit could wait forever.
            let killed = Date().addingTimeInterval(5)
            while p.isRunning && Date() < killed { usleep(10_000) }
            if p.isRunning { return nil }
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Drains a pipe on its own thread (a chatty child never blocks on a full pipe); the text read so far can be
    /// looked at while the process runs.
    final class PipeReader: @unchecked Sendable {
        private var data = Data()
        private let lock = NSLock()
        private let done = DispatchSemaphore(value: 0)
        init(_ handle: FileHandle) {
            Thread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    lock.lock(); data.append(chunk); lock.unlock()
                }
                done.signal()
            }.start()
        }
        /// What was read so far, without waiting for the end.
        var snapshot: String {
            lock.lock(); defer { lock.unlock() }
            return String(decoding: data, as: UTF8.self)
        }
        func contains(_ s: String) -> Bool {
            lock.lock(); defer { lock.unlock() }
            return String(decoding: data, as: UTF8.self).contains(s)
        }
        /// Everything read; a pipe still held open 10 s after the run ended (by a process it left behind) fails
        /// the test instead of hanging it.
        var text: String {
            if done.wait(timeout: .now() + 10) == .timedOut {
                Issue.record("a process left behind still holds the output pipe of snapharness")
            } else {
                done.signal()
            }
            lock.lock(); defer { lock.unlock() }
            return String(decoding: data, as: UTF8.self)
        }
    }
}

/// The Python runtime clients. The lifecycle suites run under both with the same expectations: any difference between
/// the built-in runtime and AWS's awslambdaric (over the in-tree Runtime API) is a failing test.
enum RuntimeClient: String, CaseIterable, Sendable, CustomStringConvertible {
    case builtin, awslambdaric

    var flags: [String] { ["--runtime-client", rawValue] }
    var description: String { rawValue }
}
