#if os(Linux)
import Foundation
import Hummingbird
import Logging
import NIOCore
import SnapHarness

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

    private final class Failure: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: (any Error)?
        func set(_ error: any Error) { lock.withLock { stored = error } }
        var error: (any Error)? { lock.withLock { stored } }
    }
}
#endif
