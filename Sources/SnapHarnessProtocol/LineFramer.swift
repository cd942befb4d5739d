/// Splits a byte stream into `\n`-terminated lines in linear time: each byte is scanned once, however the stream
/// is chunked (a 5 MB response arrives in 64 KiB reads; rescanning the whole buffer per read was quadratic).
public struct LineFramer: Sendable {
    private var buffer: [UInt8] = []
    /// Start of the first line not yet handed out.
    private var start = 0
    /// Bytes from `start` up to here hold no newline.
    private var scanned = 0
    /// Bytes examined in all (for the linearity test).
    public private(set) var bytesExamined = 0
    /// A line longer than this is refused: the peer is not speaking the protocol.
    public let maxLineBytes: Int

    public init(maxLineBytes: Int = 64 << 20) { self.maxLineBytes = maxLineBytes }

    public enum Failure: Error, Equatable { case lineTooLong(Int) }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        // Drop consumed bytes only when they are most of the buffer: amortised O(1) per byte.
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete line without its `\n`, or nil until one has arrived.
    public mutating func nextLine() throws -> [UInt8]? {
        while scanned < buffer.count {
            bytesExamined += 1
            if buffer[scanned] == UInt8(ascii: "\n") {
                let line = Array(buffer[start..<scanned])
                scanned += 1
                start = scanned
                return line
            }
            scanned += 1
        }
        if buffer.count - start > maxLineBytes { throw Failure.lineTooLong(buffer.count - start) }
        return nil
    }

    /// Bytes received but not yet part of a complete line.
    public var pendingBytes: Int { buffer.count - start }
}
