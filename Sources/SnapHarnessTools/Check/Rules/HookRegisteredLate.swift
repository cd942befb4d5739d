#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// Hooks that never run: registered after the snapshot, inside the handler.
struct HookRegisteredLate: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let facts = input.facts
        let afterRestoreHooksAtInit = input.afterRestoreHooksAtInit
        var found: [Finding] = []
        let lateBefore = Set(facts.flatMap(\.hooks.pendingBeforeSnapshot))
        let lateAfter = Set(facts.flatMap { Array($0.hooks.afterRestore.dropFirst(afterRestoreHooksAtInit.count)) })
        if !lateBefore.isEmpty || !lateAfter.isEmpty {
            found.append(Finding(
                category: "hooks", title: "hooks registered after the snapshot (inside the handler) never run",
                evidence: lateBefore.sorted().map { "before-snapshot hook \($0) registered during an invocation" }
                    + lateAfter.sorted().map { "after-restore hook \($0) registered after the restore" },
                why: "the snapshot was taken and this environment restored before the handler ran: hooks registered "
                    + "now are never called, and each invocation registers them again",
                fix: "register hooks at module level, so they exist when Init ends"))
        }
        return found
    }
}
#endif
