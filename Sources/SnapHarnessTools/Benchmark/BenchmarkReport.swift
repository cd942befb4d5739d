#if os(Linux)
import Foundation
import SnapHarnessEngine

/// The variants one benchmark run interleaves, in the order the table lists them.
public enum BenchmarkVariant: String, Codable, Sendable, CaseIterable {
    /// Lambda's on-demand path: spawn the runtime, Init, invoke. No snapshot anywhere.
    case cold
    /// Init + before-snapshot hooks + checkpoint: what publishing a SnapStart version costs.
    case snapshot
    /// The harness's own restore path (libcriu restore, reconnect, after-restore hooks, invoke).
    case restore
    /// The floor: `criu restore` from the command line and a bare hand-written protocol driver, no harness.
    case criu
    /// `criu lazy-pages` + `criu restore --lazy-pages`: memory arrives on demand through userfaultfd.
    case lazy
    /// With `--breakdown`: the harness's libcriu restore (`Criu.restore`) driven by the bare protocol, which splits
    /// the harness's overhead into its CRIU call and its protocol side.
    case libcriu
    /// Fresh anonymous memory of the image's size, touched page by page: the page-fault floor.
    case fill
}

/// One measured quantity of a variant: a row of the table and of the chart.
public struct BenchmarkSeries: Sendable, Hashable, Codable {
    public var variant: BenchmarkVariant
    public var metric: String
    public var label: String
    public var unit: String

    public var key: String { "\(variant.rawValue).\(metric)" }

    public init(_ variant: BenchmarkVariant, _ metric: String, _ label: String, unit: String = "ms") {
        self.variant = variant
        self.metric = metric
        self.label = label
        self.unit = unit
    }

    /// Every row the benchmark can produce, in table order.
    public static let catalog: [BenchmarkSeries] = [
        BenchmarkSeries(.cold, "ready", "cold: spawn + Init -> ready"),
        BenchmarkSeries(.cold, "firstResponse", "cold: spawn + Init -> first response"),
        BenchmarkSeries(.snapshot, "init", "snapshot: Init (module code)"),
        BenchmarkSeries(.snapshot, "hooks", "snapshot: before-snapshot hooks"),
        BenchmarkSeries(.snapshot, "checkpoint", "snapshot: checkpoint (CRIU dump + manifest)"),
        BenchmarkSeries(.snapshot, "imageMiB", "snapshot: image size", unit: "MiB"),
        BenchmarkSeries(.restore, "ready", "restore: harness -> after-restore hooks done"),
        BenchmarkSeries(.restore, "firstResponse", "restore: harness -> first response"),
        BenchmarkSeries(.restore, "criu", "restore: harness, CRIU's part (unbilled)"),
        BenchmarkSeries(.criu, "running", "criu CLI restore -> process running"),
        BenchmarkSeries(.criu, "firstOutput", "criu CLI restore -> first output (hello)"),
        BenchmarkSeries(.criu, "firstResponse", "criu CLI floor -> first response"),
        BenchmarkSeries(.libcriu, "running", "libcriu (harness Criu.restore) -> running"),
        BenchmarkSeries(.libcriu, "firstResponse", "libcriu + bare protocol -> first response"),
        BenchmarkSeries(.lazy, "daemonReady", "lazy: lazy-pages daemon ready"),
        BenchmarkSeries(.lazy, "running", "lazy: restore -> process running"),
        BenchmarkSeries(.lazy, "firstResponse", "lazy: restore -> first response"),
        BenchmarkSeries(.lazy, "allPages", "lazy: restore -> all pages in"),
        BenchmarkSeries(.fill, "fill", "floor: memory fill of image size"),
    ]

    public static func named(_ key: String) -> BenchmarkSeries? { catalog.first { $0.key == key } }
}

/// One variant measured once: its metrics (milliseconds, or the series' unit) or why it failed.
public struct BenchmarkSample: Codable, Sendable, Equatable {
    public var iteration: Int
    public var variant: BenchmarkVariant
    public var metrics: [String: Double]
    public var error: String?

    public init(iteration: Int, variant: BenchmarkVariant, metrics: [String: Double] = [:], error: String? = nil) {
        self.iteration = iteration
        self.variant = variant
        self.metrics = metrics
        self.error = error
    }
}

/// A row of the summary: a series (or a per-pair ratio) with its order statistics.
public struct SeriesSummary: Codable, Sendable {
    public var key: String
    public var label: String
    public var unit: String
    public var summary: Summary
}

/// A target from the issue, checked against this run's numbers (never asserted in a timed test).
public struct TargetCheck: Codable, Sendable {
    public var name: String
    public var met: Bool
    public var measured: String
    public var limit: String
}

/// Everything a run measured: every sample (warm-up ones excluded), the summaries, the per-pair ratios, the
/// targets, and the machine facts. Written by `--json`.
public struct BenchmarkReport: Codable, Sendable {
    public var format = "snapharness-bench/1"
    public var function: String
    public var handler: String
    public var directory: String
    public var startedAt: Date
    public var durationSeconds: Double = 0
    public var iterations: Int
    public var warmup: Int
    public var order: String = "interleaved: every iteration takes a fresh snapshot, then runs the other variants "
        + "in an order rotated by one each iteration"
    public var networkLock: String
    public var machine: MachineFacts
    public var imageBytes: UInt64?
    public var samples: [BenchmarkSample] = []
    public var summaries: [SeriesSummary] = []
    public var ratios: [SeriesSummary] = []
    public var targets: [TargetCheck] = []
    public var notes: [String] = []

    /// The values of one series in iteration order (nil where that iteration has no such sample).
    public func values(_ key: String) -> [Double?] {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let variant = BenchmarkVariant(rawValue: parts[0]) else { return [] }
        let iterationsSeen = Set(samples.map(\.iteration)).sorted()
        return iterationsSeen.map { i in
            samples.first { $0.iteration == i && $0.variant == variant && $0.error == nil }?.metrics[parts[1]]
        }
    }

    public func distribution(_ key: String) -> Distribution { Distribution(values(key).compactMap { $0 }) }

    public func summary(_ key: String) -> Summary? {
        summaries.first { $0.key == key }?.summary ?? ratios.first { $0.key == key }?.summary
    }

    public var jsonData: Data { (try? JSONValue.prettyData(self)) ?? Data() }

    public static func decode(_ data: Data) throws -> BenchmarkReport {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try d.decode(BenchmarkReport.self, from: data)
    }
}

// MARK: - Derived numbers

/// A per-pair comparison: numerator / denominator (or numerator - denominator) within each iteration.
public struct BenchmarkRatio: Sendable {
    public var key: String
    public var label: String
    public var numerator: String
    public var denominator: String
    public var difference: Bool

    public static let catalog: [BenchmarkRatio] = [
        BenchmarkRatio(key: "ratio.coldOverRestore", label: "cold / restore (first response): speed-up",
                       numerator: "cold.firstResponse", denominator: "restore.firstResponse", difference: false),
        BenchmarkRatio(key: "ratio.restoreOverCriu", label: "restore / criu CLI floor (first response)",
                       numerator: "restore.firstResponse", denominator: "criu.firstResponse", difference: false),
        BenchmarkRatio(key: "diff.restoreMinusCriu", label: "restore - criu CLI floor (first response), ms",
                       numerator: "restore.firstResponse", denominator: "criu.firstResponse", difference: true),
        BenchmarkRatio(key: "diff.libcriuMinusCriu", label: "libcriu - criu CLI (first response), ms",
                       numerator: "libcriu.firstResponse", denominator: "criu.firstResponse", difference: true),
        BenchmarkRatio(key: "diff.restoreMinusLibcriu", label: "restore - libcriu (first response), ms",
                       numerator: "restore.firstResponse", denominator: "libcriu.firstResponse", difference: true),
        BenchmarkRatio(key: "ratio.restoreOverFill", label: "restore (first response) / memory-fill floor",
                       numerator: "restore.firstResponse", denominator: "fill.fill", difference: false),
        BenchmarkRatio(key: "ratio.coldOverLazy", label: "cold / lazy restore (first response): speed-up",
                       numerator: "cold.firstResponse", denominator: "lazy.firstResponse", difference: false),
        BenchmarkRatio(key: "ratio.coldReadyOverRestoreReady", label: "cold ready / restore ready",
                       numerator: "cold.ready", denominator: "restore.ready", difference: false),
    ]
}

extension BenchmarkReport {
    /// Fills `summaries`, `ratios` and `targets` from the samples.
    public mutating func summarize(targetSpeedup: Double? = nil, targetLazyMs: Double? = nil,
                                   targetFillRatio: Double? = nil, targetCheckpointMs: Double? = nil) {
        summaries = BenchmarkSeries.catalog.compactMap { series in
            distribution(series.key).summary.map {
                SeriesSummary(key: series.key, label: series.label, unit: series.unit, summary: $0)
            }
        }
        ratios = BenchmarkRatio.catalog.compactMap { r in
            let n = values(r.numerator), d = values(r.denominator)
            let dist: Distribution
            if r.difference {
                dist = Distribution(zip(n, d).compactMap { a, b in a.flatMap { a in b.map { a - $0 } } })
            } else {
                dist = Distribution.ratios(n, d)
            }
            return dist.summary.map { SeriesSummary(key: r.key, label: r.label, unit: r.difference ? "ms" : "x", summary: $0) }
        }
        targets = []
        if let ratio = summary("ratio.restoreOverCriu"), let diff = summary("diff.restoreMinusCriu") {
            targets.append(TargetCheck(
                name: "harness restore -> first response vs the criu CLI floor on the same image",
                met: ratio.p50 <= 1.05 || diff.p50 <= 2,
                measured: String(format: "%.2fx, %+.2f ms (p50 of per-pair values)", ratio.p50, diff.p50),
                limit: "<= 1.05x or <= +2 ms"))
        }
        if let target = targetSpeedup, let speedup = summary("ratio.coldOverRestore") {
            targets.append(TargetCheck(
                name: "restore -> first response faster than cold start -> first response",
                met: speedup.p50 >= target,
                measured: String(format: "%.1fx (p50 of per-pair ratios; min %.1fx)", speedup.p50, speedup.min),
                limit: String(format: ">= %.0fx", target)))
        }
        if let target = targetFillRatio, let ratio = summary("ratio.restoreOverFill") {
            targets.append(TargetCheck(
                name: "restore -> first response vs the memory-fill floor of the image's size",
                met: ratio.p50 <= target,
                measured: String(format: "%.1fx (p50 of per-pair ratios)", ratio.p50),
                limit: String(format: "<= %.0fx", target)))
        }
        if let target = targetCheckpointMs, let checkpoint = summary("snapshot.checkpoint") {
            targets.append(TargetCheck(
                name: "checkpoint (CRIU dump, /tmp disk, manifest)",
                met: checkpoint.p50 <= target,
                measured: String(format: "%.0f ms p50 (max %.0f ms)", checkpoint.p50, checkpoint.max),
                limit: String(format: "<= %.0f ms", target)))
        }
        if let target = targetLazyMs {
            if let lazy = summary("lazy.firstResponse") {
                targets.append(TargetCheck(
                    name: "lazy restore -> first response",
                    met: lazy.p50 <= target,
                    measured: String(format: "%.1f ms p50 (p90 %.1f ms)", lazy.p50, lazy.p90),
                    limit: String(format: "<= %.0f ms", target)))
            } else {
                targets.append(TargetCheck(name: "lazy restore -> first response", met: false,
                                           measured: "not measured (lazy restore unavailable or failed)",
                                           limit: String(format: "<= %.0f ms", target)))
            }
        }
    }
}
#endif
