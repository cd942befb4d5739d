import Foundation
import Glibc
import SnapHarnessEngine
import SnapHarnessProtocol
import Testing

/// Errors keep their cause: a lifecycle failure made from CRIU's error still carries it (its log, its reasons) and
/// says exactly what it said before; Lambda's error types have one spelling.
struct ErrorCauseTests {
    @Test func aLifecycleFailureKeepsCriusErrorAndItsLog() throws {
        let dir = TestEnvironment.scratchDirectory("cause")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/restore.log"
        try "(00.010000) Error (criu/cr-restore.c:1234): Can't fork for 42: File exists\n"
            .write(toFile: log, atomically: true, encoding: .utf8)
        let criu = CriuError(operation: "restore", code: -52, logPath: log)
        let failure = LifecycleError(.restore, cause: criu)
        #expect(failure.message == "\(criu)", "the text is the cause's, as before")
        let kept = try #require(failure.underlying(CriuError.self))
        #expect(kept.logPath == log && kept.code == -52)
        #expect(kept.reasons.contains { $0.contains("Can't fork for 42") }, "\(kept.reasons)")
        // Through a second wrapping, too, and a system error keeps its errno.
        let outer = LifecycleError(.input, cause: LifecycleError(.restore, cause: SystemError("open x", errno: ENOENT)))
        #expect(outer.underlying(SystemError.self)?.errno == ENOENT)
        #expect(outer.underlying(CriuError.self) == nil)
    }

    @Test func lambdaErrorTypesHaveOneSpelling() {
        for type in [LambdaErrorType.runtimeUnknown, .runtimeExitError, .runtimeOutOfMemory, .runtimeInitTimeout,
                     .runtimeImportModuleError, .runtimeBeforeSnapshotError, .runtimeAfterRestoreError, .sandboxTimedout,
                     .functionResponseSizeTooLarge, .snapStartException, .snapStartTimeoutException] {
            #expect(LambdaErrorType(name: type.name) == type, "\(type.name) reads back as itself")
            #expect(type.name.contains(".") || type.name.hasPrefix("SnapStart"))
        }
        #expect(LambdaErrorType(name: "ValueError") == .function("ValueError"))
        #expect(LambdaErrorType.sandboxTimedout.name == "Sandbox.Timedout")
        let hook = LambdaError(errorMessage: "boom", errorType: "ValueError").wrapped(as: .runtimeAfterRestoreError)
        #expect(hook.errorType == "Runtime.AfterRestoreError" && hook.errorMessage == "ValueError: boom")
        #expect(hook.type == .runtimeAfterRestoreError)
    }
}
