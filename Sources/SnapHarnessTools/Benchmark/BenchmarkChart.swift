#if os(Linux)
import Foundation
import SnapHarnessEngine

/// An SVG of a report: one row per measured series, labelled directly on the row (no legend to hunt for), every
/// sample drawn as a dot over its min-max whisker, p25-p75 box and p50 bar, with the p50 written at the row's end.
/// The time axis turns logarithmic when the rows span more than a factor of 20 (cold start next to a restore).
public struct BenchmarkChart: Sendable {
    public var width = 1000
    public var rowHeight = 26

    public init() {}

    static let colors: [BenchmarkVariant: String] = [
        .cold: "#d9480f", .snapshot: "#7048e8", .restore: "#1971c2", .criu: "#495057", .lazy: "#2b8a3e", .fill: "#868e96",
        .libcriu: "#0c8599",
    ]

    struct Row {
        var series: BenchmarkSeries
        var values: [Double]
        var distribution: Distribution
    }

    public func svg(_ report: BenchmarkReport) -> String {
        let rows: [Row] = BenchmarkSeries.catalog.filter { $0.unit == "ms" }.compactMap { series in
            let values = report.values(series.key).compactMap { $0 }
            return values.isEmpty ? nil : Row(series: series, values: values, distribution: Distribution(values))
        }
        let labelWidth = 330.0, valueWidth = 130.0
        let plotLeft = labelWidth, plotRight = Double(width) - valueWidth
        let top = 70.0
        let height = Int(top) + rows.count * rowHeight + 90
        let all = rows.flatMap(\.values).filter { $0 > 0 }
        let scale = Scale(lo: all.min() ?? 1, hi: all.max() ?? 10, from: plotLeft, to: plotRight)

        var s: [String] = []
        s.append(#"<svg xmlns="http://www.w3.org/2000/svg" width="\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)" font-family="Helvetica, Arial, sans-serif" font-size="12">"#)
        s.append(#"<rect width="100%" height="100%" fill="white"/>"#)
        let image = report.imageBytes.map { String(format: "%.1f MiB image", Double($0) / 1_048_576) } ?? ""
        s.append(text(12, 22, "snapharness bench: \(report.function) \u{2014} \(image), \(report.iterations) iterations, "
                      + "variants interleaved", size: 16, weight: "bold"))
        let m = report.machine
        s.append(text(12, 42, "\(report.handler); \(m.cores) cores, Linux \(m.kernel), CRIU \(m.criuVersion ?? "?"), Python \(m.pythonVersion ?? "?"), "
                      + "images on \(m.imagesFileSystem), network lock: \(report.networkLock)", fill: "#495057"))

        // Grid and axis labels.
        let bottom = top + Double(rows.count * rowHeight)
        for tick in scale.ticks() {
            let x = scale.x(tick)
            s.append(#"<line x1="\#(f(x))" y1="\#(f(top - 4))" x2="\#(f(x))" y2="\#(f(bottom))" stroke="rgb(233,236,239)"/>"#)
            s.append(text(x, bottom + 16, BenchmarkChart.tickLabel(tick), anchor: "middle", fill: "#868e96"))
        }
        s.append(text((plotLeft + plotRight) / 2, bottom + 32, "milliseconds" + (scale.log ? " (log scale)" : ""),
                      anchor: "middle", fill: "#868e96"))

        for (i, row) in rows.enumerated() {
            let y = top + Double(i * rowHeight) + Double(rowHeight) / 2
            let color = BenchmarkChart.colors[row.series.variant] ?? "#000"
            if i % 2 == 0 {
                s.append(#"<rect x="0" y="\#(f(y - Double(rowHeight) / 2))" width="\#(width)" height="\#(rowHeight)" fill="rgb(248,249,250)"/>"#)
            }
            s.append(text(labelWidth - 10, y + 4, row.series.label, anchor: "end", fill: color))
            let d = row.distribution
            guard let lo = d.min, let hi = d.max, let p25 = d.percentile(25), let p50 = d.median, let p75 = d.percentile(75) else { continue }
            s.append(#"<line x1="\#(f(scale.x(lo)))" y1="\#(f(y))" x2="\#(f(scale.x(hi)))" y2="\#(f(y))" stroke="\#(color)" stroke-width="1.5"/>"#)
            let boxLeft = scale.x(p25), boxWidth = max(2, scale.x(p75) - scale.x(p25))
            s.append(#"<rect x="\#(f(boxLeft))" y="\#(f(y - 7))" width="\#(f(boxWidth))" height="14" fill="\#(color)" fill-opacity="0.18" stroke="\#(color)"/>"#)
            for (k, v) in row.values.enumerated() {
                let jitter = Double((k * 7919) % 11) - 5 // deterministic spread so equal values stay visible
                s.append(#"<circle cx="\#(f(scale.x(v)))" cy="\#(f(y + jitter))" r="2.4" fill="\#(color)" fill-opacity="0.55"/>"#)
            }
            s.append(#"<line x1="\#(f(scale.x(p50)))" y1="\#(f(y - 10))" x2="\#(f(scale.x(p50)))" y2="\#(f(y + 10))" stroke="\#(color)" stroke-width="3"/>"#)
            s.append(text(plotRight + 10, y + 4, "p50 " + BenchmarkChart.valueLabel(p50) + " ms", fill: color, weight: "bold"))
        }

        var footer: [String] = []
        if let r = report.summary("ratio.coldOverRestore") { footer.append(String(format: "cold / restore speed-up %.1fx", r.p50)) }
        if let r = report.summary("ratio.restoreOverCriu"), let d = report.summary("diff.restoreMinusCriu") {
            footer.append(String(format: "harness restore / criu CLI floor %.2fx (%+.1f ms)", r.p50, d.p50))
        }
        if let r = report.summary("ratio.restoreOverFill") { footer.append(String(format: "restore / memory-fill floor %.1fx", r.p50)) }
        if !footer.isEmpty {
            s.append(text(12, bottom + 56, "Per-pair p50: " + footer.joined(separator: "; "), fill: "#212529"))
        }
        s.append(text(12, bottom + 74, "Dots: every sample. Bar: p50. Box: p25\u{2013}p75. Line: min\u{2013}max. Pairs are samples of the same iteration.",
                      fill: "#868e96", size: 11))
        s.append("</svg>")
        return s.joined(separator: "\n") + "\n"
    }

    func text(_ x: Double, _ y: Double, _ content: String, anchor: String = "start", fill: String = "#212529",
              size: Int = 12, weight: String = "normal") -> String {
        #"<text x="\#(f(x))" y="\#(f(y))" text-anchor="\#(anchor)" fill="\#(fill)" font-size="\#(size)" font-weight="\#(weight)">\#(BenchmarkChart.escape(content))</text>"#
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func valueLabel(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }

    static func tickLabel(_ v: Double) -> String {
        v >= 1 || v == 0 ? String(format: "%g", v) : String(format: "%.2g", v)
    }

    /// Maps milliseconds to x: logarithmic when the data spans more than a factor of 20.
    struct Scale {
        let lo: Double, hi: Double, from: Double, to: Double, log: Bool

        init(lo: Double, hi: Double, from: Double, to: Double) {
            let safeLo = max(lo, 0.01), safeHi = max(hi, safeLo * 1.01)
            log = safeHi / safeLo > 20
            if log {
                self.lo = pow(10, (log10(safeLo)).rounded(.down))
                self.hi = pow(10, (log10(safeHi)).rounded(.up))
            } else {
                let step = Scale.niceStep((safeHi - 0) / 6)
                self.lo = 0
                self.hi = (safeHi / step).rounded(.up) * step
            }
            self.from = from
            self.to = to
        }

        func x(_ v: Double) -> Double {
            if log {
                let t = (log10(max(v, lo)) - log10(lo)) / (log10(hi) - log10(lo))
                return from + t * (to - from)
            }
            return from + (v - lo) / (hi - lo) * (to - from)
        }

        func ticks() -> [Double] {
            if log {
                var out: [Double] = []
                var decade = lo
                while decade <= hi * 1.0001 {
                    for m in [1.0, 2, 5] where decade * m <= hi * 1.0001 { out.append(decade * m) }
                    decade *= 10
                }
                return out
            }
            let step = Scale.niceStep((hi - lo) / 6)
            return stride(from: lo, through: hi + step / 2, by: step).map { $0 }
        }

        static func niceStep(_ raw: Double) -> Double {
            guard raw > 0 else { return 1 }
            let magnitude = pow(10, log10(raw).rounded(.down))
            for m in [1.0, 2, 2.5, 5, 10] where raw <= m * magnitude { return m * magnitude }
            return 10 * magnitude
        }
    }
}
#endif
