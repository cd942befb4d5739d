#if os(Linux)
import CSandbox
import Foundation
import SnapHarnessProtocol
import Glibc

/// The supervisor's end of the control channel: a Unix socket at an abstract address of the environment's network
/// namespace (the environment sees no path of the host), or, for a process in the host's network, in a 0700
/// directory under /run. One listener per function process; only that process may connect (checked with
/// SO_PEERCRED).
public final class ControlListener: @unchecked Sendable {
    public static let baseDirectory = "/run/snapharness"
    /// The abstract address inside an environment's network namespace (one listener per namespace).
    public static let abstractName = "snapharness-control"
    /// The address the function connects to: a path, or `@name` for an abstract one.
    public let path: String
    private let directory: String?
    package let fd: Int32

    /// Listens inside `network`, the environment's own namespace (made in it, the socket stays there).
    public init(network: EnvironmentNetwork) throws {
        let sock = sh_listen_abstract_in_netns(network.fd, ControlListener.abstractName)
        guard sock >= 0 else { throw SystemError("listen on @\(ControlListener.abstractName) in the environment's network") }
        fd = sock
        path = "@" + ControlListener.abstractName
        directory = nil
    }

    /// `owner`: the function's user, who must be able to connect; the folder stays closed to everyone else.
    public init(owner: FunctionUser? = nil) throws {
        // 0711: an unprivileged function may pass through to its own 0700 folder, but not list the others.
        if mkdir(ControlListener.baseDirectory, 0o711) != 0 && errno != EEXIST {
            throw SystemError("mkdir \(ControlListener.baseDirectory)")
        }
        chmod(ControlListener.baseDirectory, 0o711)
        let directory = try ScratchFolder.make(ControlListener.baseDirectory + "/ctl")
        self.directory = directory
        path = directory + "/control.sock"
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard sock >= 0 else { let e = SystemError("socket"); rmdir(directory); throw e }
        fd = sock
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(sock); rmdir(directory)
            throw SystemError("control socket path too long: \(path)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 && listen(sock, 4) == 0
            }
        }
        guard ok else { let e = SystemError("bind \(path)"); Glibc.close(sock); rmdir(directory); throw e }
        chmod(path, 0o600)
        if let owner, !owner.isRoot {
            guard chown(directory, owner.uid, owner.gid) == 0, chown(path, owner.uid, owner.gid) == 0 else {
                let e = SystemError("chown \(directory) to \(owner.name)"); Glibc.close(sock); unlink(path); rmdir(directory)
                throw e
            }
        }
    }

    deinit { close() }

    private var closed = false
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
        if let directory {
            unlink(path)
            rmdir(directory)
        }
    }

    /// The line the function reads on stdin to find us.
    public var addressLine: [UInt8] { Array((path + "\n").utf8) }

    /// Accepts the connection of `pid` within `timeout` seconds; other peers are turned away. Returns nil when
    /// `pid` ends (or the time runs out) before connecting. `throughWrapper`: the runtime was started through
    /// `AWS_LAMBDA_EXEC_WRAPPER`, which may run it as its own child instead of exec-ing it.
    func accept(from process: ChildProcess, deadline: Double, throughWrapper: Bool = false) throws -> ControlConnection? {
        while Clock.now < deadline {
            if process.poll() != nil { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = Int32(max(1, min(50, (deadline - Clock.now) * 1000)))
            guard Glibc.poll(&p, 1, wait) > 0 else { continue }
            let conn = sh_accept_cloexec(fd)
            if conn < 0 { if errno == EINTR || errno == EAGAIN { continue }; throw SystemError("accept") }
            // The runtime: the launched or restored process itself (a Runtime API server), or its child (the built-in
            // agent under snapharness-init; under a wrapper that did not exec, the wrapper's child).
            let peer = sh_peer_pid(conn)
            let parent = peer > 0 ? ProcFile.parent(of: peer) : nil
            if peer == process.pid || parent == process.pid
                || (throughWrapper && parent.map { ProcFile.parent(of: $0) == process.pid } == true) {
                return ControlConnection(fd: conn, peer: peer)
            }
            Glibc.close(conn) // not the process we launched or restored
        }
        return nil
    }
}

extension ControlListener {
    /// For tests: whether a connection from `process` arrives within `timeout` (strangers are turned away).
    public func acceptForTesting(from process: SandboxedProcess, timeout: Double) throws -> Bool {
        try accept(from: process.process, deadline: Clock.now + timeout) != nil
    }
}

/// One connected function process: JSON lines both ways.
final class ControlConnection {
    private let fd: Int32
    private var framer = LineFramer()
    /// The runtime's pid as the supervisor sees it (SO_PEERCRED), 0 when unknown.
    let peer: pid_t

    init(fd: Int32, peer: pid_t = 0) {
        self.fd = fd
        self.peer = peer
        Interrupts.ignoreBrokenPipes()
    }
    deinit { Glibc.close(fd) }

    func send(_ message: SupervisorMessage) throws {
        try FD.writeAll(fd, message.line)
    }

    /// The inspector's facts (`check`), or nil when the function answered anything else or nothing by `deadline`
    /// (monotonic seconds): the caller says what that means in its phase.
    func inspect(deadline: Double) throws -> FunctionFacts? {
        try send(.inspect)
        guard case .message(.facts(let facts)) = try receive(deadline: deadline) else { return nil }
        return facts
    }

    /// What came from the function. `.malformed` says what was wrong with a line that is not a message: the phase
    /// reading it decides what that means (an Init failure during Init, an after-restore failure after a restore).
    enum Received { case message(AgentMessage), closed, timedOut, malformed(String) }

    /// A decoding error in a few words.
    static func why(_ error: Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted?: return "not valid JSON"
        case .keyNotFound(let key, _)?: return "no \"\(key.stringValue)\" field"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
            return "a wrong value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }

    /// The next message, `.closed` at EOF, `.timedOut` past `deadline` (monotonic seconds).
    func receive(deadline: Double) throws -> Received {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let line: [UInt8]?
            do { line = try framer.nextLine() } catch {
                return .malformed("a control message over \(framer.maxLineBytes >> 20) MiB without a line end")
            }
            if let line {
                do {
                    return .message(try AgentMessage.decode(line))
                } catch {
                    return .malformed("a malformed control message (\(Self.why(error))): \(String(decoding: line.prefix(200), as: UTF8.self))")
                }
            }
            let left = deadline - Clock.now
            if left <= 0 { return .timedOut }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = Glibc.poll(&p, 1, Int32(min(left * 1000, 1000).rounded(.up)))
            if r < 0 { if errno == EINTR { continue }; throw SystemError("poll control socket") }
            if r == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; if errno == ECONNRESET { return .closed }; throw SystemError("read control socket") }
            if n == 0 { return .closed }
            framer.append(chunk[0..<n])
        }
    }
}
#endif
