#if os(Linux)
import Foundation
import SnapHarnessEngine

/// Network namespaces made ahead of the requests that need them: pasta takes 60-90 ms to configure one (more when
/// several start at once on a small machine), which a request that restores an environment would otherwise wait for.
/// On Lambda the microVM and its network exist before the restore, too. A background thread keeps `size` ready.
final class NetworkPool: @unchecked Sendable {
    private let lock = NSCondition()
    private var ready: [EnvironmentNetwork] = []
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    let size: Int

    init(size: Int) {
        self.size = size
        Thread.detachNewThread { [self] in
            fill()
            finished.signal()
        }
    }

    /// A ready network, or nil when none is (the caller makes its own).
    func take() -> EnvironmentNetwork? {
        lock.lock()
        defer { lock.unlock() }
        guard !ready.isEmpty else { return nil }
        let network = ready.removeFirst()
        lock.broadcast() // the filler makes the next one
        return network
    }

    private func fill() {
        while true {
            lock.lock()
            while !stopped && ready.count >= size { lock.wait() }
            if stopped { lock.unlock(); return }
            lock.unlock()
            guard let network = try? EnvironmentNetwork.create() else {
                Thread.sleep(forTimeInterval: 1) // pasta failed (the restore path will say why); try again later
                continue
            }
            lock.lock()
            if stopped { lock.unlock(); network.remove(); return }
            ready.append(network)
            lock.unlock()
        }
    }

    /// Stops making networks (waiting for one being made, so no pasta outlives the server) and removes the ready ones.
    func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
        _ = finished.wait(timeout: .now() + 15)
        lock.lock()
        let left = ready
        ready.removeAll()
        lock.unlock()
        for network in left { network.remove() }
    }
}
#endif
