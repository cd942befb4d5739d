import Foundation
@testable import SnapHarnessEngine
import Testing

/// `--json` is `LifecycleReport` encoded, minus `inspection` (check's own data): its hand-written CodingKeys must
/// list every other field, or a field added later silently never reaches the JSON.
struct ReportEncodingTests {
    @Test func everyFieldButTheInspectionIsEncoded() throws {
        var report = LifecycleReport()
        report.function = "f"
        report.handler = "h"
        report.snapshot = SnapshotReport(path: "/s", imageBytes: 1, checkpointMs: 1, beforeSnapshotHooks: [],
                                         afterRestoreHooks: [])
        report.failure = FailureReport(LifecycleError(.input, "x"))
        report.extensions = []
        report.inspection = SnapshotInspection()
        let fields = Set(Mirror(reflecting: report).children.compactMap(\.label)).subtracting(["inspection"])
        let encoded = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any])
        #expect(Set(encoded.keys) == fields, "encoded \(encoded.keys.sorted()), fields \(fields.sorted())")
        #expect(encoded["inspection"] == nil)
    }
}
