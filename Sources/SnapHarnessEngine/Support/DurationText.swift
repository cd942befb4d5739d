#if os(Linux)
import Foundation
/// Durations as users type them: "90s", "2m", "1.5s", "500ms", "1h", or plain seconds.
public enum DurationText {
    public static func parse(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            if let v = Double(t.dropLast(suffix.count)), v >= 0 { return v * scale }
        }
        if let v = Double(t), v >= 0 { return v }
        throw HarnessError.input("cannot read duration \"\(text)\": use e.g. 90s, 2m, 500ms or 1h")
    }

    public static func describe(_ seconds: Double) -> String {
        if seconds >= 60 { return "\(Int(seconds) / 60)m\(Int(seconds) % 60)s" }
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
    }
}
#endif
