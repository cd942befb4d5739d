#if os(Linux)
import Foundation
import SnapHarnessEngine

/// The text forms of a report: the table printed at the end of a run, a one-line summary, and CSV of every sample.
extension BenchmarkReport {
    static func fmt(_ value: Double, _ unit: String) -> String {
        switch unit {
        case "x": return String(format: "%.2fx", value)
        case "MiB": return String(format: "%.1f", value)
        default: return abs(value) >= 1000 ? String(format: "%.0f", value) : String(format: "%.2f", value)
        }
    }

    /// The table: one row per series (min / p50 / p90 / p99 / max), then the per-pair ratios, the multiples of
    /// the floors, and the targets.
    public var table: String {
        var out: [String] = []
        let image = imageBytes.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "?"
        out.append("snapharness bench: \(function) (\(handler)), \(iterations) iterations + \(warmup) warm-up, "
                   + "variants interleaved, \(String(format: "%.0f", durationSeconds)) s")
        out.append("machine: \(machine.cores) cores, Linux \(machine.kernel), CRIU \(machine.criuVersion ?? "?"), "
                   + "Python \(machine.pythonVersion ?? "?"), \(machine.swiftBuild) build; images on "
                   + "\(machine.imagesFileSystem) (\(machine.imagesDirectory)), image \(image), network lock: \(networkLock)")
        let labelWidth = max(44, (summaries + ratios).map(\.label.count).max() ?? 0)
        func row(_ label: String, _ cells: [String]) -> String {
            label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
                + cells.map { String(repeating: " ", count: max(0, 9 - $0.count)) + $0 }.joined()
        }
        out.append("")
        out.append(row("ms (image size in MiB)", ["n", "min", "p50", "p90", "p99", "max"]))
        var lastVariant: String?
        for s in summaries {
            let variant = String(s.key.split(separator: ".").first ?? "")
            if let lastVariant, lastVariant != variant { out.append("") }
            lastVariant = variant
            let m = s.summary
            out.append(row(s.label, [String(m.count)] + [m.min, m.p50, m.p90, m.p99, m.max].map { BenchmarkReport.fmt($0, s.unit) }))
        }
        if !ratios.isEmpty {
            out.append("")
            out.append(row("per pair (same iteration)", ["n", "min", "p50", "p90", "p99", "max"]))
            for s in ratios {
                let m = s.summary
                out.append(row(s.label, [String(m.count)] + [m.min, m.p50, m.p90, m.p99, m.max].map { BenchmarkReport.fmt($0, s.unit) }))
            }
        }
        if let fill = summary("fill.fill"), fill.p50 > 0 {
            out.append("")
            let multiples = ["restore.firstResponse": "harness restore -> first response",
                             "criu.firstResponse": "criu CLI floor -> first response",
                             "lazy.allPages": "lazy restore -> all pages in",
                             "cold.firstResponse": "cold start -> first response"]
            out.append(String(format: "memory-fill floor (%@ of fresh 4 KiB pages): %.2f ms p50; as multiples of it (p50):",
                              imageBytes.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "?", fill.p50))
            for key in ["restore.firstResponse", "criu.firstResponse", "lazy.allPages", "cold.firstResponse"] {
                if let s = summary(key), let label = multiples[key] {
                    out.append(String(format: "  %@ %.1fx", label.padding(toLength: 40, withPad: " ", startingAt: 0), s.p50 / fill.p50))
                }
            }
        }
        if !targets.isEmpty {
            out.append("")
            out.append("targets (checked on this run's numbers; p50 of per-pair values):")
            for t in targets {
                out.append("  [\(t.met ? "met" : "NOT MET")] \(t.name): \(t.measured) (target \(t.limit))")
            }
        }
        for note in notes { out.append("note: \(note)") }
        return out.joined(separator: "\n")
    }

    /// One line for `make bench`'s closing summary.
    public var summaryLine: String {
        func p50(_ key: String) -> String { summary(key).map { BenchmarkReport.fmt($0.p50, "ms") + " ms" } ?? "-" }
        var parts = ["cold \(p50("cold.firstResponse"))", "restore \(p50("restore.firstResponse"))",
                     "criu floor \(p50("criu.firstResponse"))"]
        if summary("lazy.firstResponse") != nil {
            parts.append("lazy \(p50("lazy.firstResponse")) (all pages \(p50("lazy.allPages")))")
        }
        parts.append("fill floor \(p50("fill.fill"))")
        if let s = summary("ratio.coldOverRestore") { parts.append(String(format: "speed-up %.1fx", s.p50)) }
        if let s = summary("ratio.restoreOverCriu"), let d = summary("diff.restoreMinusCriu") {
            parts.append(String(format: "harness/floor %.2fx (%+.1f ms)", s.p50, d.p50))
        }
        let image = imageBytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "?"
        let met = targets.map { "\($0.met ? "met" : "NOT MET"): \($0.name)" }
        return "\(function) [\(image)]: " + parts.joined(separator: ", ") + (met.isEmpty ? "" : "\n    " + met.joined(separator: "\n    "))
    }

    /// Every sample, one row per (iteration, variant, metric).
    public var csv: String {
        var lines = ["function,iteration,variant,metric,value,unit,error"]
        for s in samples.sorted(by: { ($0.iteration, $0.variant.rawValue) < ($1.iteration, $1.variant.rawValue) }) {
            if let error = s.error {
                lines.append("\(BenchmarkReport.csvField(function)),\(s.iteration),\(s.variant.rawValue),,,,\(BenchmarkReport.csvField(error))")
                continue
            }
            for (metric, value) in s.metrics.sorted(by: { $0.key < $1.key }) {
                let unit = BenchmarkSeries.named("\(s.variant.rawValue).\(metric)")?.unit ?? (metric.hasSuffix("MiB") ? "MiB" : "ms")
                lines.append("\(BenchmarkReport.csvField(function)),\(s.iteration),\(s.variant.rawValue),\(metric),"
                             + "\(String(format: "%.4f", value)),\(unit),")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A one-line progress bar for stderr: `[#####.....] 12/40 iteration 3 restore`.
public struct ProgressBar: Sendable {
    public var width = 30

    public init(width: Int = 30) { self.width = width }

    public func render(_ p: BenchmarkProgress) -> String {
        let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 1
        let filled = min(width, Int((fraction * Double(width)).rounded(.down)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let phase = p.warmup ? "warm-up \(p.iteration)" : "iteration \(p.iteration)"
        return "[\(bar)] \(p.done)/\(p.total) \(phase): \(p.step)"
    }
}
#endif
