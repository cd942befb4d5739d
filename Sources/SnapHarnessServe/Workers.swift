#if os(Linux)
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where serve's blocking engine calls run (restores, invocations over the environment's socket, freezes,
/// teardowns, pasta's start-up): a fixed pool of threads, never the event loop or Swift's cooperative pool. Sized
/// for the environments serve allows, so an invocation never waits for a thread (see `InvokeServer`).
///
/// As a service it also runs the work that outlives its request (an `Event` invocation, the teardown of a `--fresh`
/// environment after its answer) as child tasks; at graceful shutdown it takes no more and waits for what it has.
final class Workers: Service {
    private let pool: NIOThreadPool
    private typealias Job = @Sendable () async -> Void
    private let jobs: AsyncStream<Job>
    private let queue: AsyncStream<Job>.Continuation

    init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        (jobs, queue) = AsyncStream.makeStream(of: Job.self)
    }

    func start() { pool.start() }

    /// Once every service has ended (no work can be submitted any more).
    func stop() async { try? await pool.shutdownGracefully() }

    /// Runs `body` on a pool thread. A task cancelled before its turn never runs it (CancellationError), so `body`
    /// must leave nothing half done when it is skipped: every call here is whole (acquire, invoke and hand back).
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// Runs `body` on a pool thread even if the task is cancelled: teardowns, which must happen.
    func finish(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            pool.submit { _ in // `.cancelled` only once the pool is stopped: it runs here then, as it must
                body()
                done.resume()
            }
        }
    }

    /// Runs `job` in the background, as a child task of this service. False once shutting down (nothing taken).
    @discardableResult
    func background(_ job: @escaping @Sendable () async -> Void) -> Bool {
        if case .enqueued = queue.yield(job) { return true }
        return false
    }

    func run() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await job in jobs { group.addTask(operation: job) }
            } // waits for the jobs running
        } onGracefulShutdown: {
            self.queue.finish() // jobs queued already still run
        }
    }
}

/// A count of changes tasks wait on without a thread: `wait(after:)` returns once the count has moved past the one
/// the caller read before looking at what it waits for (at once if it already has), or when the task is cancelled.
final class ChangeSignal: Sendable {
    private struct State {
        var count = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    var count: Int { state.withLock { $0.count } }

    func signal() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.count += 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait(after seen: Int) async {
        let id = state.withLock { s -> Int in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.count != seen || Task.isCancelled { return true }
                    s.waiters[id] = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
#endif
