#if os(Linux)
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SnapHarnessEngine

/// Runs the Invoke API until SIGINT/SIGTERM (`Interrupts`, which the caller reports) in one service group: the
/// HTTP server, each fleet (networks kept ready, idle environments reaped), and the workers (the threads blocking
/// engine calls run on, and the background work that outlives a request). The first signal (after `Interrupts` has
/// killed every function process) shuts the group down gracefully, in reverse order: every fleet refuses requests
/// from then on (503) and tears its environments down (the requests in flight fail as their processes are gone), then
/// the server stops accepting and answers the requests in flight, then the background work ends.
public enum InvokeServer {
    /// How long a graceful shutdown may take before the group is cancelled: what it waits for past it is a client that
    /// stalled mid-request. The environments are torn down before and either way.
    static let drainSeconds: Int64 = 2

    public static func run(_ api: InvokeAPI, host: String, port: Int, onReady: @escaping @Sendable (String) -> Void) throws {
        var logger = Logger(label: "snapharness-serve")
        logger.logLevel = .critical // the function's log is what users read here
        // A thread per environment serve allows (each holds one during its restore and invocations), and two per
        // fleet for its network filler and idle reaper: a request never waits for a thread.
        let workers = Workers(threads: api.fleets.reduce(0) { $0 + $1.options.maxConcurrency + 2 })
        let app = Application(router: api.router(workers: workers),
                              configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in
                                  let bound = channel.localAddress?.port ?? port
                                  onReady("http://\(host):\(bound)")
                              }, logger: logger)
        // Shut down in reverse order: the fleets first, so no client (one stalled mid-request) delays the teardown.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: workers), .init(service: app)]
        services += api.fleets.map { .init(service: FleetService(fleet: $0, workers: workers)) }
        services.append(.init(service: SignalTrigger(), successTerminationBehavior: .gracefullyShutdownGroup))
        // No gracefulShutdownSignals: `Interrupts` owns SIGINT/SIGTERM (it kills the functions first, and its record
        // of the signal is the exit code); `SignalTrigger` hands the signal to the group.
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(drainSeconds)
        let group = ServiceGroup(configuration: configuration)
        let failure = Failure()
        let done = DispatchSemaphore(value: 0)
        workers.start()
        // The command is synchronous: this thread waits for the group, once.
        Task {
            do { try await group.run() } catch is CancellationError {} catch { failure.set(error) }
            await workers.stop()
            done.signal()
        }
        done.wait()
        if let error = failure.error {
            throw HarnessError.input("the Invoke API could not listen on \(host):\(port) (\(error)): another program may "
                                     + "use that port; pick another with --port, or --port 0 for any free one")
        }
    }

    /// Ends, gracefully shutting the group down, at the first SIGINT/SIGTERM (or a closed output); or when the group
    /// shuts down otherwise.
    struct SignalTrigger: Service {
        func run() async {
            let (signals, received) = AsyncStream.makeStream(of: Int32.self)
            Interrupts.whenReceived { sig in
                received.yield(sig)
                received.finish()
            }
            for await _ in signals.cancelOnGracefulShutdown() { return }
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
