#if os(Linux)
import Foundation
import SnapHarnessProtocol

/// One invocation of a restored environment, as Lambda runs it: START, the event to the runtime, its answer (a
/// result, the function's error, or the environment's end: a crash, a timeout, out of memory), END and REPORT.
extension RestoredEnvironment {
    /// Runs one invocation; a timeout or crash ends the environment (Lambda resets it), a handler error does not.
    public func invoke(event: String, first: Bool, clientContext: String? = nil) -> InvocationReport {
        turn.withLock { invokeInTurn(event: event, first: first, clientContext: clientContext) }
    }

    /// What REPORT says besides the durations: its `Status` and `Error Type`, when the invocation did not end well.
    struct ReportFields {
        var status: String?
        var errorType: LambdaErrorType?
    }

    private func invokeInTurn(event: String, first: Bool, clientContext: String?) -> InvocationReport {
        let requestId = UUID().uuidString.lowercased()
        log.start(requestId: requestId, copy: index)
        let start = Clock.now
        var result = InvocationReport(requestId: requestId, durationMs: 0, billedDurationMs: 0, status: .success)
        var fields = ReportFields()
        do {
            guard let conn = connection else { throw HarnessError.input("copy \(index) is not running") }
            try conn.send(invocation(requestId: requestId, event: event, clientContext: clientContext))
            let answer = try conn.receive(deadline: start + function.timeoutSeconds)
            if case .message = answer { awaitOutput(of: requestId) }
            record(answer, into: &result, fields: &fields)
        } catch {
            result.status = .crashed
            result.error = LambdaError(errorMessage: "\(error)", type: .runtimeExitError, requestId: requestId)
            fields.status = "error"
            teardown()
        }
        let seconds = Clock.now - start
        result.durationMs = seconds * 1000
        result.billedDurationMs = LambdaLog.billed(seconds)
        log.end(requestId: requestId, copy: index)
        log.report(requestId: requestId, seconds: seconds, memoryMB: function.memorySizeMB,
                   maxMemoryMB: result.maxMemoryUsedMB, restoreSeconds: first ? state.restoreMs.map { $0 / 1000 } : nil,
                   billedRestoreSeconds: first ? state.billedRestoreMs.map { $0 / 1000 } : nil,
                   status: fields.status, errorType: fields.errorType, copy: index)
        state.invocations.append(result)
        return result
    }

    /// The `invoke` message: the event as its JSON text, Lambda's deadline, ARN and a fresh X-Ray trace header.
    private func invocation(requestId: String, event: String, clientContext: String?) -> SupervisorMessage {
        let region = function.environment["AWS_REGION"] ?? "us-east-1"
        let name = function.environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "function"
        return .invoke(.init(
            requestId: requestId, event: event,
            deadlineMs: Int64((Date().timeIntervalSince1970 + function.timeoutSeconds) * 1000),
            invokedFunctionArn: "arn:aws:lambda:\(region):000000000000:function:\(name)",
            traceId: TraceHeader.make(), clientContext: clientContext))
    }

    /// The runtime's answer as the invocation's outcome.
    private func record(_ answer: ControlConnection.Received, into result: inout InvocationReport,
                        fields: inout ReportFields) {
        let requestId = result.requestId
        switch answer {
        case .message(.result(let m)):
            result.maxMemoryUsedMB = maxMemoryUsedMB ?? m.maxMemoryMB
            if m.byteCount > PayloadLimits.responseBytes {
                result.status = .error
                result.error = PayloadLimits.responseTooLarge(m.byteCount, requestId: requestId)
                fields.status = "error"
            } else {
                result.result = RawJSON(unchecked: m.text)
            }
        case .message(.error(let m)):
            result.maxMemoryUsedMB = maxMemoryUsedMB ?? m.maxMemoryMB
            result.status = .error
            result.error = m.error
            // An error object is a response too: over 6 MB, Lambda answers with its own error instead.
            let size = (try? JSONValue(encoding: m.error).jsonText.utf8.count) ?? 0
            if size > PayloadLimits.responseBytes {
                result.error = PayloadLimits.responseTooLarge(size, requestId: requestId)
            }
            if m.error.errorMessage.contains("No space left on device") {
                log.line("snapharness: the function's /tmp is full: it holds \(function.ephemeralStorageMB) MB, the most "
                         + "Lambda gives a SnapStart function (--ephemeral-storage above "
                         + "\(FunctionConfig.snapStartEphemeralStorageMB) MB is refused with SnapStart); write less to "
                         + "/tmp, or keep large files elsewhere (S3, EFS is not available with SnapStart)", copy: index)
            }
        case .message(let m):
            result.status = .error
            result.error = LambdaError(errorMessage: "unexpected control message \(m.type)", type: .runtimeUnknown,
                                       requestId: requestId)
        case .closed:
            recordCrash(into: &result, fields: &fields)
        case .timedOut:
            result.status = .timeout
            let limit = String(format: "%.2f", function.timeoutSeconds)
            result.error = LambdaError(errorMessage: "RequestId: \(requestId) Error: Task timed out after \(limit) seconds",
                                       type: .sandboxTimedout, requestId: requestId)
            log.line("\(ISO8601DateFormatter().string(from: Date())) \(requestId) Task timed out after \(limit) seconds",
                     copy: index)
            fields.status = "timeout"
            teardown()
        case .malformed(let why):
            // The channel can no longer be trusted: the environment is reset, as after a runtime crash.
            result.status = .crashed
            result.error = LambdaError(errorMessage: "RequestId: \(requestId) Error: the runtime sent \(why)",
                                       type: .runtimeUnknown, requestId: requestId)
            fields.status = "error"
            fields.errorType = .runtimeUnknown
            teardown()
        }
    }

    /// The runtime went away mid-invocation: out of memory (the cgroup says so) or another exit.
    private func recordCrash(into result: inout InvocationReport, fields: inout ReportFields) {
        let requestId = result.requestId
        let exit = process?.waitForExit(timeout: 5)
        result.status = .crashed
        awaitCgroup()
        result.maxMemoryUsedMB = maxMemoryUsedMB
        if cgroup?.outOfMemory == true {
            result.error = LambdaError(errorMessage: "RequestId: \(requestId) Error: Runtime exited with error: "
                                       + "signal: killed", type: .runtimeOutOfMemory, requestId: requestId)
            log.line("snapharness: the function used more than its memory size of \(function.memorySizeMB) MB "
                     + "and was killed, as Lambda kills it; raise --memory", copy: index)
            fields.errorType = .runtimeOutOfMemory
        } else {
            result.error = LambdaError(errorMessage: "RequestId: \(requestId) Error: Runtime exited"
                                       + (exit.map { " (\($0))" } ?? ""), type: .runtimeExitError, requestId: requestId)
        }
        fields.status = "error"
        teardown()
    }

    /// The environment's peak memory (its cgroup's, once the restored tree is in it), in MB as Lambda rounds it.
    private var maxMemoryUsedMB: Int? {
        if let adoption {
            guard adoption.wait(timeout: .now()) == .success else { return nil }
            self.adoption = nil
        }
        return cgroup?.peakBytes.map { Int(($0 + (1 << 20) - 1) >> 20) }
    }

    /// Everything the invocation printed is out before its END line (the runtime marks the end of its output).
    private func awaitOutput(of requestId: String) {
        process?.marks.wait(for: requestId, timeout: 2)
    }
}
#endif
