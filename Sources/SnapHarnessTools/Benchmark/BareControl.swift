#if os(Linux)
import CSandbox
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol
import Glibc

/// The leanest possible supervisor side of the control protocol, for the benchmark's floors: one listening
/// socket made with the copy's network before the clock starts, the harness's message types and codec, and the function's
/// stdout/stderr drained in the same poll loop instead of reader threads.
/// Whatever the harness spends above this is its own overhead.
final class BareControlSocket {
    /// The listening socket and its private folder are the harness's own (same modes, same owner handling).
    private let listener: ControlListener

    /// `owner`: the function's user, who must be able to connect.
    init(owner: FunctionUser, network: EnvironmentNetwork?) throws {
        listener = try network.map { try ControlListener(network: $0) } ?? ControlListener(owner: owner)
    }

    func close() { listener.close() }

    var path: String { listener.path }
    var addressLine: [UInt8] { listener.addressLine }
    private var fd: Int32 { listener.fd }

    /// Accepts the next connection, draining `drain` meanwhile; nil past the deadline.
    func accept(deadline: Double, drain: inout [Int32]) throws -> BareConnection? {
        while true {
            guard try BareConnection.wait(for: fd, deadline: deadline, drain: &drain) else { return nil }
            let conn = sh_accept_cloexec(fd)
            if conn >= 0 { return BareConnection(fd: conn) }
            if errno != EINTR && errno != EAGAIN { throw SystemError("accept") }
        }
    }
}

/// One connection of the bare driver.
final class BareConnection {
    private let fd: Int32
    private var framer = LineFramer()

    init(fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }

    func send(_ message: SupervisorMessage) throws {
        try FD.writeAll(fd, message.line)
    }

    /// The next line, or nil at EOF or past the deadline.
    func receiveLine(deadline: Double, drain: inout [Int32]) throws -> String? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let line = try framer.nextLine() { return String(decoding: line, as: UTF8.self) }
            guard try BareConnection.wait(for: fd, deadline: deadline, drain: &drain) else { return nil }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return nil }
            if n == 0 { return nil }
            framer.append(chunk[0..<n])
        }
    }

    /// Sends `message` (if any), then decodes the next reply with the harness's own codec (nil: closed or timed out).
    func exchange(_ message: SupervisorMessage?, deadline: Double, drain: inout [Int32]) throws -> AgentMessage? {
        if let message { try send(message) }
        guard let reply = try receiveLine(deadline: deadline, drain: &drain) else { return nil }
        return try? AgentMessage.decode(Array(reply.utf8))
    }

    /// Polls `fd` for input while draining (reading and discarding) the output pipes in `drain`; a drained pipe
    /// that reaches EOF is closed and dropped. False past the deadline.
    static func wait(for fd: Int32, deadline: Double, drain: inout [Int32]) throws -> Bool {
        var scratch = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline - Clock.now
            if left <= 0 { return false }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                + drain.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let r = Glibc.poll(&fds, nfds_t(fds.count), Int32(min(left * 1000, 1000).rounded(.up)))
            if r < 0 { if errno == EINTR { continue }; throw SystemError("poll") }
            var closed: [Int32] = []
            for p in fds.dropFirst() where p.revents != 0 {
                let n = scratch.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { closed.append(p.fd) }
            }
            for c in closed { FD.close(c); drain.removeAll { $0 == c } }
            if fds[0].revents != 0 { return true }
        }
    }

    /// Reads and discards whatever the pipes hold right now, then closes them.
    static func closeDrained(_ drain: inout [Int32]) {
        drain.forEach(FD.close)
        drain.removeAll()
    }
}
#endif
