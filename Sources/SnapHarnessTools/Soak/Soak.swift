#if os(Linux)
import Foundation
import SnapHarnessEngine

/// Endurance: restores one snapshot hundreds of times, one after another and in concurrent rounds, and checks after
/// every round that the supervisor is back where it started (open descriptors, children, mounts, nftables tables,
/// environment networks) and that restores do not slow down. What `make soak` runs; users run it to trust snapharness in a CI loop.
public struct Soak: Sendable {
    public let lifecycle: Lifecycle
    public var sequential = 500
    public var rounds = 50
    public var concurrency = 8
    public var event = "{}"

    public init(lifecycle: Lifecycle) { self.lifecycle = lifecycle }

    /// Counts that must not creep.
    public struct Footprint: Equatable, Sendable, CustomStringConvertible {
        public var fds: Int
        public var children: Int
        public var mounts: Int
        public var nftTables: Int
        /// This supervisor's environment networks (a folder each, removed with its namespace and pasta).
        public var networks: Int = 0

        public static func take() -> Footprint {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
            let children = ProcFile.children().count
            let mounts = ProcFile.read("/proc/self/mountinfo")?.split(separator: "\n").count ?? -1
            let networks = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/snapharness")) ?? [])
                .filter { $0.hasPrefix("net-\(getpid())-") }.count
            return Footprint(fds: fds, children: children, mounts: mounts, nftTables: nftCriuTables(), networks: networks)
        }

        static func nftCriuTables() -> Int {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/nft")
            p.arguments = ["list", "tables"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return -1 }
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return text.split(separator: "\n").filter { $0.contains("CRIU") }.count
        }

        public var description: String {
            "fds \(fds), children \(children), mounts \(mounts), nft CRIU tables \(nftTables), networks \(networks)"
        }
    }

    public struct Result: Sendable {
        public var baseline: Footprint
        public var drifts: [String]
        public var failures: [String]
        public var sequentialRestoreMs: [Double]
        public var concurrentRoundMs: [Double]
        public var ok: Bool { drifts.isEmpty && failures.isEmpty }
    }

    /// Runs the soak on `config`; `progress` gets one line per checkpoint of the run.
    public func run(_ config: FunctionConfig, progress: (String) -> Void) throws -> Result {
        var template = Array("/tmp/snapharness-soak-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp") }
        let scratch = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let snapshot = SnapshotDirectory(path: scratch + "/snapshot")
        var initReport = LifecycleReport()
        try lifecycle.snapshot(config, to: snapshot, report: &initReport)
        // One warm-up restore so lazily created state (threads, caches) is in the baseline.
        var warm = LifecycleReport()
        try lifecycle.restore(snapshot, .init(copies: 1, invocations: 1, event: event), report: &warm)
        // The measurement too: its first `nft` run starts Foundation's process-monitoring thread and descriptors.
        _ = Footprint.take()
        let baseline = Footprint.take()
        progress("baseline: \(baseline)")
        var result = Result(baseline: baseline, drifts: [], failures: [], sequentialRestoreMs: [], concurrentRoundMs: [])

        func round(_ label: String, copies: Int) -> Double? {
            var report = LifecycleReport()
            let start = Clock.now
            do {
                try lifecycle.restore(snapshot, .init(copies: copies, invocations: 1, event: event), report: &report)
            } catch {
                result.failures.append("\(label): \(error)")
            }
            let elapsed = (Clock.now - start) * 1000
            let now = Footprint.take()
            if now != baseline { result.drifts.append("\(label): \(now) (baseline \(baseline))") }
            return copies == 1 ? report.copies.first?.restoreMs : elapsed
        }

        for i in 1...max(1, sequential) {
            try Interrupts.check()
            if let ms = round("sequential cycle \(i)", copies: 1) { result.sequentialRestoreMs.append(ms) }
            if i % 50 == 0 || i == sequential {
                let window = Array(result.sequentialRestoreMs.suffix(50))
                progress("sequential \(i)/\(sequential): restore p50 \(Soak.format(Soak.median(window))) ms over the last "
                         + "\(window.count); \(Footprint.take()); drifts \(result.drifts.count), failures \(result.failures.count)")
            }
        }
        for r in 1...max(1, rounds) {
            try Interrupts.check()
            if let ms = round("concurrent round \(r)", copies: concurrency) { result.concurrentRoundMs.append(ms) }
            if r % 10 == 0 || r == rounds {
                let window = Array(result.concurrentRoundMs.suffix(10))
                progress("concurrent \(r)/\(rounds) x\(concurrency): round p50 \(Soak.format(Soak.median(window))) ms over "
                         + "the last \(window.count); \(Footprint.take()); drifts \(result.drifts.count), failures \(result.failures.count)")
            }
        }
        return result
    }

    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func format(_ x: Double) -> String { String(format: "%.1f", x) }

    /// "first 50 p50 -> last 50 p50 (ratio)": a creeping slowdown shows as a ratio well above 1.
    public static func trend(_ xs: [Double], window: Int = 50) -> (first: Double, last: Double, ratio: Double) {
        let first = median(Array(xs.prefix(window))), last = median(Array(xs.suffix(window)))
        return (first, last, last / first)
    }
}
#endif
