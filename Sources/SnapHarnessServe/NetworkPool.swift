#if os(Linux)
import Foundation
import SnapHarnessEngine
import Synchronization

/// Network namespaces made ahead of the requests that need them: pasta takes 60-90 ms to configure one (more when
/// several start at once on a small machine), which a request that restores an environment would otherwise wait for.
/// On Lambda the microVM and its network exist before the restore, too. `fill` (a task of the fleet's service) keeps
/// `size` ready, making them on the workers' threads.
final class NetworkPool: Sendable {
    private let state = Mutex<(ready: [EnvironmentNetwork], stopped: Bool)>(([], false))
    /// Moves when a network is taken or the pool stops: what `fill` waits for when `size` are ready.
    private let changes = ChangeSignal()
    let size: Int

    init(size: Int) {
        self.size = size
    }

    /// A ready network, or nil when none is (the caller makes its own).
    func take() -> EnvironmentNetwork? {
        guard let network = state.withLock({ $0.ready.isEmpty ? nil : $0.ready.removeFirst() }) else { return nil }
        changes.signal() // the filler makes the next one
        return network
    }

    /// Keeps `size` networks ready until cancelled or stopped. A network being made when that happens is finished
    /// and kept (for `stop` to remove) or, once stopped, removed here: no pasta outlives the server.
    func fill(on workers: Workers) async {
        while !Task.isCancelled {
            let seen = changes.count
            let (done, full) = state.withLock { ($0.stopped, $0.ready.count >= size) }
            if done { return }
            if full {
                await changes.wait(after: seen)
                continue
            }
            let network: EnvironmentNetwork
            do {
                network = try await workers.run { try EnvironmentNetwork.create() }
            } catch is CancellationError {
                return
            } catch {
                // pasta failed (the restore path will say why); try again later
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            let keep = state.withLock { s -> Bool in
                if !s.stopped { s.ready.append(network) }
                return !s.stopped
            }
            if !keep {
                await workers.finish { network.remove() }
                return
            }
        }
    }

    /// Stops making networks and removes the ready ones (one being made is removed by `fill` when it is done).
    func stop() {
        let left = state.withLock { s -> [EnvironmentNetwork] in
            s.stopped = true
            defer { s.ready = [] }
            return s.ready
        }
        changes.signal()
        for network in left { network.remove() }
    }
}
#endif
