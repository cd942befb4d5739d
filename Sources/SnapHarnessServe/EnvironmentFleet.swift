#if os(Linux)
import Foundation
import ServiceLifecycle
import SnapHarnessEngine

/// Lambda's scaling model over one snapshot: a request goes to an idle environment; with none idle, a new one is
/// restored from the snapshot, up to `maxConcurrency`; past it the request is throttled. Idle environments are shut
/// down after `idleTimeout`; with `fresh`, every request gets a new environment that is shut down after it.
///
/// The blocking calls (restores, invocations) run on `Workers`' threads:
/// `invoke(event:clientContext:waitForCapacity:on:)` is the one requests use. The fleet is a service of serve's group (`FleetService`): it keeps networks ready and
/// reaps idle environments while the server runs, and shuts every environment down when the group stops.
public final class EnvironmentFleet: @unchecked Sendable {
    public struct Options: Sendable {
        public var maxConcurrency: Int
        public var idleTimeout: Double
        public var fresh: Bool
        /// Freeze idle environments, as Lambda does (off: to measure what freezing costs, or to watch a background
        /// thread run between invocations).
        public var freezeIdle = true

        public init(maxConcurrency: Int = 10, idleTimeout: Double = 300, fresh: Bool = false) {
            self.maxConcurrency = maxConcurrency
            self.idleTimeout = idleTimeout
            self.fresh = fresh
        }
    }

    /// One environment and what the fleet knows of it.
    public final class Member: @unchecked Sendable {
        public let environment: RestoredEnvironment
        let logs: InvocationLogs
        var busy = true
        var restored = false
        var restoreMs: Double?
        var invocations = 0
        var lastUsed = Clock.now

        init(environment: RestoredEnvironment, logs: InvocationLogs) {
            self.environment = environment
            self.logs = logs
        }
    }

    public enum Refusal: Error {
        /// Every environment is busy and there are `maxConcurrency` of them.
        case throttled
        /// The fleet is shutting down.
        case stopping
    }

    public let options: Options
    let source: RestoreSource
    let criu: Criu
    let credentials: ContainerCredentialsServer?
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    /// Moves when capacity is freed, an environment goes idle, or the fleet stops: what `Event` invocations waiting
    /// for capacity and the idle reaper wait for.
    let changes = ChangeSignal()
    private var members: [Member] = []
    private var nextIndex = 1
    private var stopping = false
    private var restores = 0
    /// Networks made ahead of the restores that need them (only for snapshots taken in a network of their own).
    let networks: NetworkPool?

    public init(source: RestoreSource, criu: Criu, credentials: ContainerCredentialsServer?, options: Options,
                log: @escaping @Sendable (String) -> Void) {
        self.source = source
        self.criu = criu
        self.credentials = credentials
        self.options = options
        self.log = log
        // Up to 8 ready (a burst of requests restores that many at once); each idle network is one pasta process.
        networks = source.manifest.networkKey != nil ? NetworkPool(size: min(8, options.maxConcurrency)) : nil
    }

    /// An environment to invoke: an idle one, else a newly restored one; `Refusal.throttled` when there are
    /// `maxConcurrency` environments and none is idle. Blocks (thaw, restore).
    public func acquire() throws -> Member {
        lock.lock()
        while true {
            if stopping { lock.unlock(); throw Refusal.stopping }
            if !options.fresh, let idle = members.first(where: { !$0.busy }) {
                idle.busy = true
                lock.unlock()
                idle.environment.thaw()
                if idle.environment.isRunning { return idle }
                // Its processes ended while it was idle (killed from outside, the OOM killer): it is replaced, and
                // the request goes on to another environment, never fails for it.
                log("[copy \(idle.environment.index)] snapharness: this environment's processes ended while it was idle; "
                    + "the request goes to another one")
                remove(idle)
                lock.lock()
                continue
            }
            if members.count < options.maxConcurrency { break }
            lock.unlock()
            throw Refusal.throttled
        }
        let index = nextIndex
        nextIndex += 1
        let logs = InvocationLogs(copy: index, sink: log)
        let member = Member(environment: RestoredEnvironment(index: index, criu: criu, source: source,
                                                             log: logs.lambdaLog, credentials: credentials),
                            logs: logs)
        members.append(member)
        restores += 1
        lock.unlock()
        do {
            if let network = networks?.take() { member.environment.prepare(network: network) }
            defer { networks?.restored() }
            try member.environment.restore()
            let restoreMs = member.environment.report.restoreMs
            lock.lock()
            member.restored = true
            member.restoreMs = restoreMs
            lock.unlock()
            return member
        } catch {
            remove(member)
            throw error
        }
    }

    /// Runs one invocation on `member` and hands it back idle, unless it must go (`fresh`, or the environment ended:
    /// a timeout or crash resets it on Lambda): then `teardown` is true and the caller calls `release(member)` once
    /// the answer is sent. Blocks.
    public func invoke(_ member: Member, event: String, clientContext: String? = nil)
        -> (report: InvocationReport, log: String, teardown: Bool) {
        member.logs.begin()
        let first = member.invocations == 0
        let report = member.environment.invoke(event: event, first: first, clientContext: clientContext)
        let tail = member.logs.end()
        lock.lock()
        member.invocations += 1
        member.lastUsed = Clock.now
        lock.unlock()
        let teardown = options.fresh || !member.environment.isRunning
        if !teardown { release(member) }
        return (report, tail, teardown)
    }

    /// One invocation as a request makes it, on `workers`' threads: an environment acquired, invoked and handed
    /// back. An environment that must go is torn down in the background, after the answer. `waitForCapacity`: wait
    /// (without a thread) for an environment instead of being throttled, as Lambda queues `Event` invocations.
    func invoke(event: String, clientContext: String?, waitForCapacity: Bool = false,
                on workers: Workers) async throws -> (report: InvocationReport, log: String) {
        while true {
            let seen = changes.count
            do {
                // Whole in one call: a request cancelled before its turn has acquired nothing.
                let (report, log, teardown) = try await workers.run { () -> (InvocationReport, String, Member?) in
                    let member = try self.acquire()
                    let (report, log, teardown) = self.invoke(member, event: event, clientContext: clientContext)
                    return (report, log, teardown ? member : nil)
                }
                if let teardown {
                    let release = { @Sendable in await workers.finish { self.release(teardown) } }
                    // Shutting down: the fleet's shutdown takes it, and this waits for it.
                    if !workers.background(release) { await release() }
                }
                return (report, log)
            } catch Refusal.throttled where waitForCapacity {
                await changes.wait(after: seen)
            }
        }
    }

    /// Gives an acquired environment back without invoking it.
    public func release(_ member: Member) {
        if options.fresh || !member.environment.isRunning || isStopping {
            remove(member)
        } else {
            if options.freezeIdle { member.environment.freeze() } // as Lambda freezes an environment between invocations
            lock.lock()
            member.busy = false
            lock.unlock()
            changes.signal()
        }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func remove(_ member: Member) {
        member.environment.shutdown()
        lock.lock()
        members.removeAll { $0 === member }
        lock.unlock()
        changes.signal()
    }

    /// When the environment idle longest reaches the idle timeout (nil: none is idle), and `changes`' count read
    /// before looking.
    private func nextIdleDeadline() -> (deadline: Double?, seen: Int) {
        let seen = changes.count
        lock.lock()
        defer { lock.unlock() }
        return (members.filter { !$0.busy }.map(\.lastUsed).min().map { $0 + options.idleTimeout }, seen)
    }

    /// Shuts idle environments down as they reach the idle timeout, until cancelled: sleeps until the next one
    /// does, or, with none idle, until one goes idle (it cannot expire sooner than the timeout after that).
    func reapIdle(on workers: Workers) async {
        while !Task.isCancelled {
            let (deadline, seen) = nextIdleDeadline()
            if let deadline {
                try? await Task.sleep(for: .seconds(max(0, deadline - Clock.now)))
            } else {
                await changes.wait(after: seen)
            }
            if Task.isCancelled { return }
            try? await workers.run { self.reapIdle() }
        }
    }

    /// Shuts down environments idle for longer than the idle timeout.
    public func reapIdle(now: Double = Clock.now) {
        lock.lock()
        let expired = members.filter { !$0.busy && now - $0.lastUsed >= options.idleTimeout }
        for m in expired { m.busy = true } // nobody may take it while it goes
        lock.unlock()
        for m in expired {
            log("snapharness: environment \(m.environment.index) was idle for \(DurationText.describe(options.idleTimeout)); shut down")
            remove(m)
        }
    }

    /// Refuses new requests and shuts every environment down (in-flight invocations fail as their process goes).
    /// An environment being torn down in the background is waited for: its shutdown holds the environment's turn.
    public func shutdownAll() {
        lock.lock()
        stopping = true
        let all = members
        lock.unlock()
        changes.signal() // Event invocations waiting for capacity give up
        networks?.stop()
        for m in all { m.environment.shutdown() }
        lock.lock()
        members.removeAll()
        lock.unlock()
    }

    /// What `GET /snapharness/environments` shows.
    public struct Status: Codable, Sendable {
        public var environments: [EnvironmentStatus]
        public var restores: Int
        public var maxConcurrency: Int
        public var fresh: Bool
    }

    public struct EnvironmentStatus: Codable, Sendable {
        public var copy: Int
        public var state: String
        public var invocations: Int
        public var restoreMs: Double?
        public var idleSeconds: Double?
    }

    public var status: Status {
        lock.lock()
        defer { lock.unlock() }
        let now = Clock.now
        return Status(environments: members.map { m in
            EnvironmentStatus(copy: m.environment.index, state: m.busy ? (m.restored ? "busy" : "restoring") : "idle",
                              invocations: m.invocations, restoreMs: m.restoreMs,
                              idleSeconds: m.busy ? nil : (now - m.lastUsed))
        }, restores: restores, maxConcurrency: options.maxConcurrency, fresh: options.fresh)
    }
}

/// A fleet in serve's service group: while the server runs it keeps networks ready and reaps idle environments;
/// at graceful shutdown (or cancellation) it stops both and shuts every environment down, refusing requests from then.
struct FleetService: Service {
    let fleet: EnvironmentFleet
    let workers: Workers

    func run() async {
        await withDiscardingTaskGroup { group in
            if let networks = fleet.networks { group.addTask { await networks.fill(on: workers) } }
            group.addTask { await fleet.reapIdle(on: workers) }
            try? await gracefulShutdown() // throws when cancelled instead: the environments go all the same
            group.cancelAll() // a network being made is finished (and kept for `stop` to remove)
        }
        await workers.finish { fleet.shutdownAll() }
    }
}
#endif
