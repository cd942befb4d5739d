import ArgumentParser
import Foundation
import SnapHarnessEngine
import SnapHarnessServe
import SnapHarnessTools

/// `snapharness bench`: cold start vs restore of one handler, measured in one interleaved run. The measuring lives
/// in the SnapHarness library (`Benchmark`); this command parses flags, draws the progress bar and writes files.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark cold start vs snapshot restore of a handler, with the CRIU and memory floors.",
        discussion: """
        In one run, interleaved so drift hits every variant alike, each iteration takes a fresh snapshot (Init, \
        before-snapshot hooks, checkpoint) and then measures: a cold start (spawn + Init + first invocation, no \
        snapshot), the harness's restore (restore + after-restore hooks + first invocation), the same restore done \
        by the `criu` command line with a bare driver (the floor the harness is compared with), a lazy restore \
        (userfaultfd, when the kernel has it) and the memory-fill floor of an image of that size. Prints min / p50 / \
        p90 / p99 / max per series and per-pair ratios. Scratch goes to /dev/shm when it is tmpfs (else /tmp) and is \
        removed afterwards. Needs root, like every checkpoint.
        """)

    @OptionGroup var function: FunctionOptions

    @Option(name: .long, help: "Measured iterations (each runs every variant once).")
    var iterations: Int = 10

    @Option(name: .long, help: "Warm-up iterations, run first and not recorded.")
    var warmup: Int = 1

    @Option(name: .long, help: "Write the full report (every sample, machine facts) as JSON to FILE.")
    var json: String?

    @Option(name: .long, help: "Write every sample as CSV to FILE.")
    var csv: String?

    @Option(name: .long, help: "Write an SVG chart (one labelled row per series) to FILE.svg.")
    var chart: String?

    @Option(name: .long, help: "Event JSON file for the invocations (default {}).")
    var event: String?

    @Option(name: .customLong("work-dir"), help: "Where snapshots and CRIU's work files go (default /dev/shm if tmpfs, else /tmp).")
    var workDir: String?

    @Flag(name: .customLong("no-lazy"), help: "Skip the lazy (userfaultfd) restore.")
    var noLazy = false

    @Option(name: .customLong("target-speedup"), help: "Also check cold / restore (first response) >= X.")
    var targetSpeedup: Double?

    @Option(name: .customLong("target-lazy-ms"), help: "Also check lazy restore -> first response <= MS.")
    var targetLazyMs: Double?

    @Option(name: .customLong("target-fill-ratio"), help: "Also check restore -> first response <= X times the memory-fill floor.")
    var targetFillRatio: Double?

    @Option(name: .customLong("target-checkpoint-ms"), help: "Also check checkpoint (dump, /tmp disk, manifest) <= MS.")
    var targetCheckpointMs: Double?

    @Flag(name: .long, help: "Also restore through the harness's libcriu call with the bare driver, to split the harness's overhead.")
    var breakdown = false

    @Flag(name: .long, help: "No progress bar.")
    var quiet = false

    @Flag(name: .long, help: """
        Measure `snapharness serve` instead: round trips against an HTTP floor of the same stack (Hummingbird         answering the same bytes), serve's CPU per invoke, the cost of freezing idle environments, throughput at         1/8/32 clients and a burst of 8 on a cold serve. --iterations scales the requests (x60 round trips).
        """)
    var serve = false

    func validate() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
        // Checked now, not after minutes of benchmarking: every output file's folder must exist and be writable.
        for (flag, file) in [("--json", json), ("--csv", csv), ("--chart", chart)] {
            guard let file else { continue }
            let folder = (SnapshotDirectory.absolute(file) as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue,
                  access(folder, W_OK) == 0 else {
                throw ValidationError("\(flag) \(file): the folder \(folder) does not exist or is not writable; create it first")
            }
        }
    }

    func run() throws {
        if serve { return try runServe() }
        var options = BenchmarkOptions()
        options.iterations = iterations
        options.warmup = warmup
        options.workDirectory = workDir
        options.lazy = !noLazy
        options.targetSpeedup = targetSpeedup
        options.breakdown = breakdown
        options.targetLazyMs = targetLazyMs
        options.targetFillRatio = targetFillRatio
        options.targetCheckpointMs = targetCheckpointMs
        let report: BenchmarkReport
        do {
            if let event {
                guard let data = FileManager.default.contents(atPath: event) else {
                    throw HarnessError.input("cannot read event file \(event)")
                }
                options.event = try RawJSON(validating: String(decoding: data, as: UTF8.self), source: "event file \(event)").text
            }
            let benchmark = Benchmark(criu: try Criu.locate(), config: try function.config(), options: options)
            let bar = ProgressBar()
            let showBar = !quiet && isatty(2) != 0
            report = try benchmark.run { p in
                guard showBar else { return }
                StandardStreams.err("\r\u{1B}[K" + bar.render(p))
            }
            if showBar { StandardStreams.err("\r\u{1B}[K") }
        } catch {
            if !quiet && isatty(2) != 0 { StandardStreams.err("\n") }
            throw Output.exit(for: error,
                              interrupted: "interrupted: the benchmark's processes were stopped and its scratch folder removed")
        }
        Output.print("CPU per environment: \(function.cpu) (--cpu host|lambda; run both to compare)")
        Output.print(report.table)
        Output.print("\nsummary: " + report.summaryLine)
        do {
            if let json { try report.jsonData.write(to: URL(fileURLWithPath: json)) }
            if let csv { try Data(report.csv.utf8).write(to: URL(fileURLWithPath: csv)) }
            if let chart { try Data(BenchmarkChart().svg(report).utf8).write(to: URL(fileURLWithPath: chart)) }
        } catch {
            Output.error("could not write the results: \(error)")
            throw ExitCode(1)
        }
    }

    /// `--serve`: one snapshot of the function, served by this same executable (`ServeBenchmark`).
    func runServe() throws {
        let scratch = try ScratchFolder.make((workDir ?? "/tmp") + "/snapharness-bench")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let report: ServeBenchmark.Report
        do {
            let lifecycle = Lifecycle(criu: try Criu.locate(), log: .silent)
            var config = try function.config()
            config.functionName = "function" // RIE's path, /2015-03-31/functions/function/invocations
            var snapshotReport = LifecycleReport()
            let snapshot = SnapshotDirectory(path: scratch + "/snap")
            _ = try lifecycle.snapshot(config, to: snapshot, report: &snapshotReport)
            var options = ServeBenchmark.Options(snapshot: snapshot.path,
                                                 binary: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                                                     ?? CommandLine.arguments[0])
            options.roundTrips = max(60, iterations * 60)
            if let event {
                guard let data = FileManager.default.contents(atPath: event) else {
                    throw HarnessError.input("cannot read event file \(event)")
                }
                options.event = try RawJSON(validating: String(decoding: data, as: UTF8.self), source: "event file \(event)").text
            }
            report = try ServeBenchmark(options: options).run { step in
                if !quiet { StandardStreams.err("[bench --serve] \(step)\n") }
            }
        } catch {
            throw Output.exit(for: error, interrupted: "interrupted: the benchmark's serve processes were stopped")
        }
        Output.print(report.text)
        Output.print("\nsummary: " + report.summaryLine)
        for target in report.targets { Output.print("    \(target.met ? "met" : "NOT MET"): \(target.text)") }
        if let json {
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            } catch {
                Output.error("could not write the results: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
