#if os(Linux)
import Foundation
import SnapHarnessEngine
import Synchronization

/// Network namespaces made ahead of the requests that need them: pasta takes 60-90 ms to configure one (more when
/// several start at once on a small machine), which a request that restores an environment would otherwise wait for.
/// On Lambda the microVM and its network exist before the restore, too. `fill` (a task of the fleet's service) keeps
/// `size` ready, making them on the workers' threads, but never while a restore runs: pasta's start-up (~45 ms of
/// CPU) beside a restore on 2 cores slowed that restore.
final class NetworkPool: Sendable {
    private struct State {
        var ready: [EnvironmentNetwork] = []
        var stopped = false
        /// Restores under way (from `take` to `restored`).
        var restoring = 0
    }
    private let state = Mutex(State())
    /// Moves when a network is taken, a restore ends or the pool stops: what `fill` waits for.
    private let changes = ChangeSignal()
    let size: Int

    init(size: Int) {
        self.size = size
    }

    /// For a restore about to start: a ready network, or nil when none is (the caller makes its own). The caller
    /// calls `restored()` when that restore has ended, whatever its outcome.
    func take() -> EnvironmentNetwork? {
        state.withLock { s in
            s.restoring += 1
            return s.ready.isEmpty ? nil : s.ready.removeFirst()
        }
    }

    /// A restore begun with `take` has ended: once none runs, the filler makes the networks taken.
    func restored() {
        state.withLock { $0.restoring -= 1 }
        changes.signal()
    }

    /// Keeps `size` networks ready until cancelled or stopped. A network being made when that happens is finished
    /// and kept (for `stop` to remove) or, once stopped, removed here: no pasta outlives the server.
    func fill(on workers: Workers) async {
        while !Task.isCancelled {
            let seen = changes.count
            let (done, wait) = state.withLock { ($0.stopped, $0.ready.count >= size || $0.restoring > 0) }
            if done { return }
            if wait {
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
