#if os(Linux)
import Foundation
import SnapHarnessProtocol

/// Lambda's synchronous invocation limits: 6 MB each way (the numbers its error messages quote).
public enum PayloadLimits {
    public static let requestBytes = 6_291_456
    public static let responseBytes = 6_291_556

    /// Refuses an event Lambda would refuse before it reaches the function (`RequestTooLargeException`).
    public static func checkRequest(_ event: String) throws {
        let size = event.utf8.count
        guard size <= requestBytes else {
            throw HarnessError.input("RequestTooLargeException: Request must be smaller than \(requestBytes) bytes for "
                                     + "the InvokeFunction operation (the event is \(size) bytes)")
        }
    }

    /// Lambda's error for a result over the limit: the invocation fails, the environment stays.
    static func responseTooLarge(_ size: Int, requestId: String) -> LambdaError {
        LambdaError(errorMessage: "Response payload size (\(size) bytes) exceeded maximum allowed payload size "
                    + "(\(responseBytes) bytes).", type: .functionResponseSizeTooLarge, requestId: requestId)
    }
}

/// X-Ray trace headers as Lambda sends them in `Lambda-Runtime-Trace-Id` (a new root per invocation, not sampled).
enum TraceHeader {
    static func make(now: Date = Date()) -> String {
        let epoch = hex(UInt64(UInt32(truncatingIfNeeded: Int(now.timeIntervalSince1970))), digits: 8)
        let root = hex(UInt64.random(in: 0...UInt64.max), digits: 16) + hex(UInt64.random(in: 0...UInt64.max), digits: 8)
        return "Root=1-\(epoch)-\(root);Parent=\(hex(UInt64.random(in: 0...UInt64.max), digits: 16));Sampled=0"
    }

    /// `value`'s low `digits` hex digits, zero-padded (String(format:) costs more than the rest of an invocation's
    /// bookkeeping in serve).
    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        let fitted = text.count > digits ? String(text.suffix(digits)) : text
        return String(repeating: "0", count: digits - fitted.count) + fitted
    }
}
#endif
