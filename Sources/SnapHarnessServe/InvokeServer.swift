#if os(Linux)
import Foundation
import Hummingbird
import Logging
import NIOCore
import SnapHarnessEngine

/// Runs the Invoke API until SIGINT/SIGTERM (`Interrupts`, which the caller reports), reaping idle environments
/// meanwhile; then stops accepting and tears every environment down.
public enum InvokeServer {
    public static func run(_ api: InvokeAPI, host: String, port: Int, onReady: @escaping @Sendable (String) -> Void) throws {
        var logger = Logger(label: "snapharness-serve")
        logger.logLevel = .critical // the function's log is what users read here
        let app = Application(router: api.router(), configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in
                                  let bound = channel.localAddress?.port ?? port
                                  onReady("http://\(host):\(bound)")
                              }, logger: logger)
        let failure = Failure()
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            do { try await app.run() } catch is CancellationError {} catch { failure.set(error) }
            done.signal()
        }
        while done.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            if Interrupts.received != nil { break }
            for fleet in api.fleets { fleet.reapIdle() }
        }
        task.cancel()
        for fleet in api.fleets { fleet.shutdownAll() }
        _ = done.wait(timeout: .now() + 10)
        if let error = failure.error {
            throw HarnessError.input("the Invoke API could not listen on \(host):\(port) (\(error)): another program may "
                                     + "use that port; pick another with --port, or --port 0 for any free one")
        }
    }

    /// Checks, before any Init is spent, that `host:port` can be listened on: `host` must be an address of this
    /// machine (or a name for one), and the port free. Says which of the two is wrong.
    public static func checkAddress(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &found)
        guard rc == 0, let first = found else {
            throw HarnessError.input("--host \(host) is not an address or a name this machine knows "
                                     + "(\(String(cString: gai_strerror(rc)))): use 127.0.0.1 (the default), ::1 or 0.0.0.0")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw SystemError("socket for --host \(host)") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let code = errno
            if code == EADDRINUSE {
                throw HarnessError.input("--port \(port) is in use on \(host): pick another, or --port 0 for any free one")
            }
            throw HarnessError.input("cannot listen on \(host):\(port): \(String(cString: strerror(code)))"
                                     + (code == EADDRNOTAVAIL ? " (\(host) is not an address of this machine)" : ""))
        }
    }

    private final class Failure: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: (any Error)?
        func set(_ error: any Error) { lock.withLock { stored = error } }
        var error: (any Error)? { lock.withLock { stored } }
    }
}
#endif
