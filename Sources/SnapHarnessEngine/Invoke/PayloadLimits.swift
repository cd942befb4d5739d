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
        func hex(_ bytes: Int) -> String {
            (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        }
        let epoch = String(format: "%08x", UInt32(truncatingIfNeeded: Int(now.timeIntervalSince1970)))
        return "Root=1-\(epoch)-\(hex(12));Parent=\(hex(8));Sampled=0"
    }
}
#endif
