#if os(Linux)
import Foundation
import SnapHarnessEngine

/// Lambda's scaling model over one snapshot: a request goes to an idle environment; with none idle, a new one is
/// restored from the snapshot, up to `maxConcurrency`; past it the request is throttled. Idle environments are shut
/// down after `idleTimeout`; with `fresh`, every request gets a new environment that is shut down after it.
///
/// Calls block (restores, invocations): callers run them off the event loop.
public final class EnvironmentFleet: @unchecked Sendable {
    public struct Options: Sendable {
        public var maxConcurrency: Int
        public var idleTimeout: Double
        public var fresh: Bool

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
    private let lock = NSCondition()
    private var members: [Member] = []
    private var nextIndex = 1
    private var stopping = false
    private var restores = 0
    /// Networks made ahead of the restores that need them (only for snapshots taken in a network of their own).
    private let networks: NetworkPool?

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

    /// An environment to invoke: an idle one, else a newly restored one. `wait`: wait for capacity instead of
    /// refusing (asynchronous `Event` invocations are queued on Lambda, never throttled to the caller).
    public func acquire(wait: Bool = false) throws -> Member {
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
            if !wait { lock.unlock(); throw Refusal.throttled }
            lock.wait(until: Date().addingTimeInterval(1))
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

    /// Runs one invocation on `member` and hands it back: idle again, or shut down (`fresh`, or the environment
    /// ended: a timeout or crash resets it on Lambda).
    public func invoke(_ member: Member, event: String, clientContext: String? = nil) -> (report: InvocationReport, log: String) {
        member.logs.begin()
        let first = member.invocations == 0
        let report = member.environment.invoke(event: event, first: first, clientContext: clientContext)
        let tail = member.logs.end()
        lock.lock()
        member.invocations += 1
        member.lastUsed = Clock.now
        lock.unlock()
        if options.fresh || !member.environment.isRunning {
            // Torn down after the answer, not before: the caller does not wait for it.
            Thread.detachNewThread { self.release(member) }
        } else {
            release(member)
        }
        return (report, tail)
    }

    /// Gives an acquired environment back without invoking it.
    public func release(_ member: Member) {
        if options.fresh || !member.environment.isRunning || isStopping {
            remove(member)
        } else {
            member.environment.freeze() // as Lambda freezes an environment between invocations
            lock.lock()
            member.busy = false
            lock.broadcast()
            lock.unlock()
        }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func remove(_ member: Member) {
        member.environment.shutdown()
        lock.lock()
        members.removeAll { $0 === member }
        lock.broadcast()
        lock.unlock()
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
        lock.broadcast()
        lock.unlock()
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
#endif
