import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Glibc
@testable import SnapHarnessEngine
import SnapHarnessServe
@testable import SnapHarnessTools
import Testing

/// The benchmark's arithmetic and drawing (no privileges needed), and one tiny real run.
struct BenchmarkStatisticsTests {
    @Test func percentilesInterpolateBetweenRanks() {
        let d = Distribution([10, 1, 4, 3, 2, 5, 6, 7, 8, 9]) // unsorted on purpose
        #expect(d.sorted == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(d.min == 1 && d.max == 10)
        #expect(d.percentile(0) == 1)
        #expect(d.percentile(100) == 10)
        #expect(d.median == 5.5)                                   // between the 5th and 6th value
        #expect(abs(d.percentile(90)! - 9.1) < 1e-9)                // rank 8.1
        #expect(abs(d.percentile(99)! - 9.91) < 1e-9)               // rank 8.91
        #expect(d.mean == 5.5)
    }

    @Test func edgeCases() throws {
        #expect(Distribution([]).summary == nil)
        #expect(Distribution([]).percentile(50) == nil)
        let one = Distribution([42])
        #expect(one.percentile(1) == 42 && one.percentile(99) == 42)
        #expect(Distribution([1, .nan, .infinity, 3]).sorted == [1, 3], "non-finite samples are dropped")
        #expect(Distribution([1, 2]).percentile(150) == 2, "p is clamped to 0...100")
        let s = try #require(Distribution([3, 1, 2]).summary)
        #expect(s.count == 3 && s.min == 1 && s.p50 == 2 && s.max == 3 && s.mean == 2)
        #expect(abs(s.p90 - 2.8) < 1e-9 && abs(s.p99 - 2.98) < 1e-9)
    }

    @Test func perPairRatiosSkipMissingSides() {
        let r = Distribution.ratios([100, nil, 30, 40], [10, 20, nil, 0])
        #expect(r.sorted == [10], "only the pair with both sides and a positive denominator counts")
    }

    @Test func summarizeChecksTargetsOnPerPairValues() {
        var report = BenchmarkReport.fixture(restore: [10, 11, 12], criu: [9.5, 10, 11], cold: [100, 120, 90], lazy: [20, 30, 26])
        report.summarize(targetSpeedup: 10, targetLazyMs: 25)
        let overhead = report.targets.first { $0.name.contains("criu CLI floor") }
        #expect(overhead?.met == true, "+0.5..1 ms is within +2 ms: \(String(describing: overhead))")
        let speedup = report.targets.first { $0.name.contains("cold start") }
        // per-pair ratios 10, 10.9, 7.5 -> p50 10 -> met
        #expect(speedup?.met == true, "\(String(describing: speedup))")
        let lazy = report.targets.first { $0.name.contains("lazy") }
        #expect(lazy?.met == false, "p50 26 ms is over 25 ms: \(String(describing: lazy))")
        #expect(report.summary("ratio.coldOverRestore")?.count == 3)
        #expect(report.summary("diff.restoreMinusCriu")?.p50 == 1)

        var slow = BenchmarkReport.fixture(restore: [20, 21, 22], criu: [10, 10, 10], cold: [30, 30, 30], lazy: [])
        slow.summarize()
        #expect(slow.targets.first?.met == false, "2x the floor and +10 ms must not pass")
        #expect(slow.summary("lazy.firstResponse") == nil)
    }

    @Test func tableAndCSVCarryEverySeries() {
        var report = BenchmarkReport.fixture(restore: [10, 11], criu: [9, 10], cold: [100, 110], lazy: [20, 21])
        report.summarize()
        let table = report.table
        for label in ["cold: spawn + Init -> first response", "restore: harness -> first response",
                      "criu CLI floor -> first response", "lazy: restore -> first response", "min", "p50", "p90", "p99", "max"] {
            #expect(table.contains(label), "table lacks \(label):\n\(table)")
        }
        let csv = report.csv.split(separator: "\n")
        #expect(csv.first == "function,iteration,variant,metric,value,unit,error")
        #expect(csv.count == 1 + 2 * 4, "one row per sample metric:\n\(report.csv)")
        #expect(BenchmarkReport.csvField("a,\"b\"") == "\"a,\"\"b\"\"\"")
    }
}

struct BenchmarkChartTests {
    @Test func svgLabelsEveryRowDirectlyAndIsWellFormed() throws {
        var report = BenchmarkReport.fixture(restore: [10, 11, 12], criu: [9, 10, 11], cold: [200, 250, 300], lazy: [15, 16, 17])
        report.function = "a<b&c"
        report.summarize()
        let svg = BenchmarkChart().svg(report)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("a&lt;b&amp;c"), "text must be escaped")
        for series in ["cold: spawn + Init -> first response", "restore: harness -> first response",
                       "criu CLI floor -> first response", "lazy: restore -> first response"] {
            #expect(svg.contains(">\(BenchmarkChart.escape(series))</text>"), "row \(series) is not labelled on the chart")
        }
        #expect(svg.components(separatedBy: "<circle").count - 1 == 3 * 4, "one dot per sample")
        #expect(svg.contains("(log scale)"), "9..300 ms spans more than 20x: log axis")
        // Well-formed XML (the escaping and quoting hold).
        let doc = try XMLDocument(data: Data(svg.utf8))
        #expect(doc.rootElement()?.name == "svg")
    }

    @Test func scaleMapsAndTicks() {
        let linear = BenchmarkChart.Scale(lo: 10, hi: 40, from: 0, to: 100)
        #expect(!linear.log)
        #expect(linear.x(0) == 0 && linear.x(linear.hi) == 100)
        #expect(linear.ticks().first == 0 && linear.ticks().last! >= 40)
        let log = BenchmarkChart.Scale(lo: 2, hi: 900, from: 0, to: 300)
        #expect(log.log && log.lo == 1 && log.hi == 1000)
        #expect(abs(log.x(10) - 100) < 1e-9 && abs(log.x(100) - 200) < 1e-9)
        #expect(log.ticks().contains(50))
    }

    @Test func progressBarFills() {
        let bar = ProgressBar(width: 10)
        let text = bar.render(BenchmarkProgress(done: 5, total: 10, iteration: 2, warmup: false, step: "restore"))
        #expect(text == "[#####.....] 5/10 iteration 2: restore")
    }
}

/// A real run on Examples/hello: 1 iteration, every variant, nothing left behind.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct BenchmarkIntegrationTests {
    @Test(.timeLimit(.minutes(2))) func tinyBenchReportsEveryVariant() throws {
        let scratch = TestEnvironment.scratchDirectory("bench")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let before = HostFootprint.take()
        let r = try CLI.run(["bench", CLI.example("hello"), "--iterations", "1", "--warmup", "0", "--quiet",
                             "--json", scratch + "/r.json", "--csv", scratch + "/r.csv", "--chart", scratch + "/r.svg"])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains("restore: harness -> first response"), "\(r)")
        let report = try BenchmarkReport.decode(try Data(contentsOf: URL(fileURLWithPath: scratch + "/r.json")))
        var expected: Set<BenchmarkVariant> = [.cold, .snapshot, .restore, .criu, .fill]
        if LazyPages.userfaultfdAvailable() { expected.insert(.lazy) }
        let measured = Set(report.samples.filter { $0.error == nil }.map(\.variant))
        #expect(measured == expected, "samples: \(report.samples)")
        for key in ["cold.firstResponse", "snapshot.checkpoint", "restore.firstResponse", "criu.firstResponse", "fill.fill"] {
            #expect((report.summary(key)?.p50 ?? 0) > 0, "\(key) missing")
        }
        #expect(report.machine.cores > 0 && report.machine.criuVersion != nil)
        #expect((report.imageBytes ?? 0) > 1 << 20)
        #expect(FileManager.default.fileExists(atPath: scratch + "/r.svg"))
        #expect(FileManager.default.fileExists(atPath: scratch + "/r.csv"))
        let after = HostFootprint.take()
        #expect(after.criuProcesses == before.criuProcesses && after.nftCriuTables == before.nftCriuTables
                && after.mounts == before.mounts, "left behind: before \(before); after \(after)")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: Benchmark.defaultWorkBase())) ?? []
        #expect(!leftovers.contains { $0.hasPrefix("sh-bench-") }, "scratch left in \(Benchmark.defaultWorkBase()): \(leftovers)")
    }
}

/// `bench --serve` on Examples/hello: every series measured against real serve processes (frozen and not), the
/// targets judged, the JSON report written, and nothing left behind.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct ServeBenchmarkTests {
    @Test(.timeLimit(.minutes(3))) func serveBenchReportsEverySeries() throws {
        let scratch = TestEnvironment.scratchDirectory("bench-serve")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try leavesNothingBehind {
            let r = try CLI.run(["bench", CLI.example("hello"), "--serve", "--iterations", "1", "--quiet",
                                 "--json", scratch + "/serve.json"])
            #expect(r.exitCode == 0, "\(r)")
            let report = try JSONDecoder().decode(ServeBenchmark.Report.self,
                                                  from: try Data(contentsOf: URL(fileURLWithPath: scratch + "/serve.json")))
            for series in [report.floor, report.serve, report.serveUnfrozen] {
                #expect(series.samples >= 60 && series.p50Ms > 0 && series.p99Ms >= series.p50Ms, "\(series)")
            }
            #expect(report.serve.p50Ms > report.floor.p50Ms, "serve does more than the floor: \(report)")
            #expect(report.serveCPUPerInvokeMs > 0)
            #expect(report.throughput.map(\.clients) == [1, 8, 32] && report.throughput.allSatisfy { $0.invokesPerSecond > 0 })
            #expect(report.coldSingleMs > 0 && report.burstSlowestMs > 0 && report.burst == 8)
            #expect(r.stdout.contains("summary: serve: round trip"), "\(r)")
            let verdicts = r.stdout.split(separator: "\n").filter { $0.hasPrefix("    met: ") || $0.hasPrefix("    NOT MET: ") }
            #expect(verdicts.count == 4, "one verdict per target: \(r)")
        }
    }
}

extension BenchmarkReport {
    /// A report with the first-response samples given (one per iteration), for the pure tests.
    static func fixture(restore: [Double], criu: [Double], cold: [Double], lazy: [Double]) -> BenchmarkReport {
        let machine = MachineFacts(cores: 2, cpuModel: nil, memoryMiB: nil, kernel: "6.18", criuBinary: "/criu",
                                   criuVersion: "4.2.1", libcriuVersion: "4.2", criuKernelFeatureCache: true,
                                   python: "/python3", pythonVersion: "3.11.7", imagesDirectory: "/dev/shm/x",
                                   imagesFileSystem: "tmpfs", imagesOnTmpfs: true, userfaultfd: true,
                                   transparentHugePages: nil, swiftBuild: "debug")
        var r = BenchmarkReport(function: "f", handler: "lambda_function.lambda_handler", directory: "/f",
                                startedAt: Date(timeIntervalSince1970: 0), iterations: restore.count, warmup: 0,
                                networkLock: "harness", machine: machine)
        r.imageBytes = 9 << 20
        for i in 0..<restore.count {
            r.samples.append(BenchmarkSample(iteration: i, variant: .restore, metrics: ["firstResponse": restore[i]]))
            if i < criu.count { r.samples.append(BenchmarkSample(iteration: i, variant: .criu, metrics: ["firstResponse": criu[i]])) }
            if i < cold.count { r.samples.append(BenchmarkSample(iteration: i, variant: .cold, metrics: ["firstResponse": cold[i]])) }
            if i < lazy.count { r.samples.append(BenchmarkSample(iteration: i, variant: .lazy, metrics: ["firstResponse": lazy[i]])) }
        }
        return r
    }
}
