#if os(Linux)
import Glibc

/// A failed system call, with the errno read right after it (before any cleanup could change it).
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs a system call again while it fails with EINTR; throws `SystemError` on any other failure.
@discardableResult
func retryingEINTR<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code != EINTR { throw SystemError(operation(), errno: code) }
    }
}
#endif
