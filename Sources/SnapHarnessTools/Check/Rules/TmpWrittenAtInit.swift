#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// /tmp written during Init (minus markers known to be harmless in every copy).
struct TmpWrittenAtInit: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let checkpoint = input.checkpoint
        var found: [Finding] = []
        let tmpFiles = checkpoint.tmpFiles.filter { entry in
            !StaleStateCheck.harmlessTmpMarkers.contains { entry.hasPrefix($0 + " ") }
        }
        if !tmpFiles.isEmpty {
            found.append(Finding(
                category: "disk", title: "files written to /tmp during Init are copied into every restored environment",
                evidence: tmpFiles.map { "\($0) at checkpoint" },
                why: "/tmp is part of the snapshot: each copy starts with the same files (lock files, caches keyed to "
                    + "one environment, temporary credentials), and none sees what another writes later",
                fix: "create per-environment files in the handler or an after-restore hook, and delete Init-time "
                    + "scratch files in a before-snapshot hook"))
        }
        return found
    }
}

extension StaleStateCheck {
    /// Files SDKs leave in /tmp during Init that mean the same thing in every copy (the X-Ray SDK's marker).
    static let harmlessTmpMarkers = ["/tmp/.aws-xray/initialized"]
}
#endif
