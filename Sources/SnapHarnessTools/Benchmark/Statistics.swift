#if os(Linux)
import Foundation
import SnapHarnessEngine

/// Order statistics of one measured quantity (milliseconds, bytes, ratios: any unit).
///
/// Percentiles interpolate linearly between the two closest ranks (numpy's default, "type 7"): with few samples a
/// p99 is then honest about lying between the two largest values instead of pretending to be one of them.
public struct Distribution: Sendable, Equatable {
    /// The samples, sorted ascending; NaN and infinite values are dropped.
    public let sorted: [Double]

    public init(_ samples: [Double]) {
        sorted = samples.filter(\.isFinite).sorted()
    }

    public var count: Int { sorted.count }
    public var isEmpty: Bool { sorted.isEmpty }
    public var min: Double? { sorted.first }
    public var max: Double? { sorted.last }

    public var mean: Double? {
        isEmpty ? nil : sorted.reduce(0, +) / Double(count)
    }

    /// The `p`-th percentile, `p` in 0...100; nil without samples.
    public func percentile(_ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let clamped = Swift.min(100, Swift.max(0, p))
        let rank = clamped / 100 * Double(count - 1)
        let lower = Int(rank.rounded(.down))
        let upper = Swift.min(lower + 1, count - 1)
        let fraction = rank - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    public var median: Double? { percentile(50) }

    public var summary: Summary? {
        guard let min, let max, let mean, let p50 = percentile(50), let p90 = percentile(90),
              let p99 = percentile(99) else { return nil }
        return Summary(count: count, min: min, p50: p50, p90: p90, p99: p99, max: max, mean: mean)
    }
}

/// The five numbers the table prints (plus count and mean), as kept in the JSON report.
public struct Summary: Codable, Sendable, Equatable {
    public var count: Int
    public var min: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var max: Double
    public var mean: Double

    public init(count: Int, min: Double, p50: Double, p90: Double, p99: Double, max: Double, mean: Double) {
        self.count = count
        self.min = min
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.max = max
        self.mean = mean
    }
}

extension Distribution {
    /// Per-pair ratios `numerator[i] / denominator[i]` of samples taken in the same iteration (the pairs the
    /// interleaving makes comparable). Pairs where either side is missing or the denominator is not positive are
    /// skipped.
    public static func ratios(_ numerator: [Double?], _ denominator: [Double?]) -> Distribution {
        var values: [Double] = []
        for (n, d) in zip(numerator, denominator) {
            if let n, let d, d > 0 { values.append(n / d) }
        }
        return Distribution(values)
    }
}
#endif
