#if os(Linux)
import Foundation
import SnapHarnessEngine
import Glibc

/// What to measure and how often.
public struct BenchmarkOptions: Sendable {
    public var iterations = 10
    public var warmup = 1
    /// The event each invocation gets (JSON text).
    public var event = "{}"
    /// Where snapshots and CRIU's work files go; nil: /dev/shm when it is tmpfs, else /tmp.
    public var workDirectory: String?
    /// Also measure the lazy (userfaultfd) restore when the kernel supports it.
    public var lazy = true
    /// Also measure the harness's libcriu restore with the bare driver (splits the harness's overhead).
    public var breakdown = false
    /// Targets to check (the harness-overhead target is always checked).
    public var targetSpeedup: Double?
    public var targetLazyMs: Double?
    /// Restore -> first response at most this many times the memory-fill floor of the image's size.
    public var targetFillRatio: Double?
    /// Checkpoint (dump, /tmp disk and manifest) at most this long.
    public var targetCheckpointMs: Double?

    public init() {}
}

/// Where a run stands, for a progress bar.
public struct BenchmarkProgress: Sendable {
    public var done: Int
    public var total: Int
    public var iteration: Int
    public var warmup: Bool
    public var step: String
}

/// `snapharness bench`: cold start, snapshot, harness restore, the criu CLI floor, lazy restore and the
/// memory-fill floor of one handler, interleaved in one run so drift hits every variant alike.
///
/// Each iteration takes a fresh snapshot, then runs the other variants on it in an order rotated by one per
/// iteration (no variant always goes first, right after the dump), each once the machine is quiet again
/// (`QuietMachine`). Every process started is reaped, every snapshot deleted; all scratch lives in one folder removed
/// at the end.
public struct Benchmark: Sendable {
    public let criu: Criu
    public let config: FunctionConfig
    public let options: BenchmarkOptions

    public init(criu: Criu, config: FunctionConfig, options: BenchmarkOptions) {
        self.criu = criu
        self.config = config
        self.options = options
    }

    /// The base folder for scratch: the option, else /dev/shm when tmpfs, else /tmp.
    public static func defaultWorkBase() -> String {
        MachineFacts.fileSystemName(of: "/dev/shm") == "tmpfs" ? "/dev/shm" : "/tmp"
    }

    public func run(progress: @Sendable (BenchmarkProgress) -> Void = { _ in }) throws -> BenchmarkReport {
        try config.validate()
        guard options.iterations >= 1, options.warmup >= 0 else {
            throw HarnessError.input("--iterations must be at least 1 and --warmup at least 0")
        }
        let runtime = try RuntimeFiles.locate() // once, before any clock; missing files are said before any work
        let base = options.workDirectory ?? Benchmark.defaultWorkBase()
        var template = Array((base + "/sh-bench-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp under \(base)") }
        let scratch = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let machine = MachineFacts.collect(criu: criu, python: config.python, imagesDirectory: scratch)
        var report = BenchmarkReport(function: config.functionName, handler: config.handler, directory: config.directory,
                                     startedAt: Date(), iterations: options.iterations, warmup: options.warmup,
                                     networkLock: "none (a network namespace per environment, tcp-close)", machine: machine)
        let begin = Clock.now
        var lazy = options.lazy && machine.userfaultfd
        if options.lazy && !machine.userfaultfd {
            report.notes.append("lazy restore skipped: userfaultfd is not available to this process")
        }
        var variants: [BenchmarkVariant] = [.cold, .restore, .criu, .fill]
        if lazy { variants.append(.lazy) }
        if options.breakdown { variants.append(.libcriu) }
        let rounds = options.warmup + options.iterations
        let total = rounds * (variants.count + 1)
        var done = 0
        var previous: SnapshotDirectory?
        defer { if let previous { try? FileManager.default.removeItem(atPath: previous.path) } }

        for round in 0..<rounds {
            try Interrupts.check() // SIGINT/SIGTERM: stop between iterations; the defers above clean up
            let measuring = round >= options.warmup
            let iteration = round - options.warmup
            func record(_ variant: BenchmarkVariant, _ metrics: [String: Double], error: String? = nil) {
                if measuring { report.samples.append(BenchmarkSample(iteration: iteration, variant: variant, metrics: metrics, error: error)) }
            }
            func step(_ name: String) {
                progress(BenchmarkProgress(done: done, total: total, iteration: measuring ? iteration + 1 : round + 1,
                                           warmup: !measuring, step: name))
            }

            step("snapshot")
            let snapshot = SnapshotDirectory(path: scratch + "/snap-\(round)")
            let (snapshotMetrics, manifest) = try SnapshotDriver(criu: criu, config: config, runtime: runtime)
                .run(into: snapshot)
            record(.snapshot, snapshotMetrics)
            report.imageBytes = manifest.imageBytes
            done += 1
            if let previous { try? FileManager.default.removeItem(atPath: previous.path) }
            previous = snapshot
            guard let function = manifest.function else { throw HarnessError.input("snapshot without a function") }

            let order = (0..<variants.count).map { variants[($0 + round) % variants.count] }
            for variant in order where variant != .lazy || lazy {
                step(variant.rawValue)
                QuietMachine.wait() // the previous variant's teardown is not this one's cost
                do {
                    if let metrics = try measure(variant, requestId: "bench-\(round)-\(variant.rawValue)", snapshot: snapshot,
                                                 manifest: manifest, function: function, scratch: scratch,
                                                 runtime: runtime) {
                        record(variant, metrics)
                    }
                } catch where variant == .lazy {
                    // Lazy restore is optional: note why it failed and go on without it.
                    report.notes.append("lazy restore failed and was skipped from then on: \(error)")
                    record(.lazy, [:], error: "\(error)")
                    lazy = false
                }
                done += 1
            }
        }
        progress(BenchmarkProgress(done: total, total: total, iteration: options.iterations, warmup: false, step: "done"))
        report.durationSeconds = Clock.now - begin
        report.summarize(targetSpeedup: options.targetSpeedup, targetLazyMs: options.targetLazyMs,
                         targetFillRatio: options.targetFillRatio, targetCheckpointMs: options.targetCheckpointMs)
        return report
    }

    /// One variant measured once on this round's snapshot (nil: the snapshot itself, measured by its driver).
    private func measure(_ variant: BenchmarkVariant, requestId: String, snapshot: SnapshotDirectory,
                         manifest: SnapshotManifest, function: FunctionManifest, scratch: String,
                         runtime: RuntimeFiles) throws -> [String: Double]? {
        switch variant {
        case .cold:
            return try ColdStartDriver(criu: criu, config: config, runtime: runtime, event: options.event).run(requestId: requestId)
        case .restore:
            return try harnessRestore(snapshot: snapshot, manifest: manifest, function: function)
        case .criu, .lazy:
            let floor = CriuFloor(criu: criu, snapshot: snapshot, manifest: manifest, function: function,
                                  workDirectory: scratch + "/\(variant.rawValue)", owner: config.user, event: options.event)
            return try floor.run(lazy: variant == .lazy, requestId: requestId)
        case .libcriu:
            let floor = CriuFloor(criu: criu, snapshot: snapshot, manifest: manifest, function: function,
                                  workDirectory: scratch + "/libcriu", owner: config.user, event: options.event)
            return try floor.runLibcriu(requestId: requestId)
        case .fill:
            let seconds = try MemoryFill.measure(bytes: Int(manifest.imageBytes))
            return ["fill": seconds * 1000, "MiB": Double(manifest.imageBytes) / 1_048_576]
        case .snapshot:
            return nil
        }
    }

    /// The harness's restore path, exactly as `snapharness restore` runs it: `RestoredEnvironment.restore()` (libcriu
    /// restore, signal, reconnect, after-restore hooks) and one `invoke`, then `shutdown()` (not timed).
    func harnessRestore(snapshot: SnapshotDirectory, manifest: SnapshotManifest, function: FunctionManifest) throws -> [String: Double] {
        // Opened once per restore command, not timed per copy.
        let source = RestoreSource(snapshot: snapshot, manifest: manifest, function: function,
                                   layout: try function.restoreLayout(snapshot, manifest: manifest))
        let copy = RestoredEnvironment(index: 1, criu: criu, source: source, log: LambdaLog.silent)
        defer { copy.shutdown() }
        try copy.prepare() // the environment exists before the restore, as on Lambda (its cost is reported apart)
        let start = Clock.now
        try copy.restore()
        let ready = Clock.now
        let result = copy.invoke(event: options.event, first: true)
        let response = Clock.now
        guard result.status == .success else {
            throw HarnessError.input("restore: the invocation failed: \(result.error?.errorType ?? result.status.rawValue): \(result.error?.errorMessage ?? "")")
        }
        var metrics = ["ready": (ready - start) * 1000, "firstResponse": (response - start) * 1000]
        // CRIU's part of it (what RESTORE_REPORT bills is the rest): splits a slow restore without --breakdown.
        let report = copy.report
        if let all = report.restoreMs, let billed = report.billedRestoreMs { metrics["criu"] = all - billed }
        return metrics
    }
}
#endif
