#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// Hooks that never run: their module is never imported.
struct HookModuleNotImported: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let reference = input.reference
        var found: [Finding] = []
        for module in reference.hooks.unimported {
            found.append(Finding(
                category: "hooks", title: "module \(module.module) registers hooks, but the handler never imports it",
                evidence: ["\(module.file) calls register_before_snapshot/register_after_restore and is not imported during Init"],
                why: "hooks are registered when their module is imported; Lambda never imports a module on its own, "
                    + "so these hooks never run",
                fix: "import \(module.module) from the handler module (at module level, during Init)"))
        }
        return found
    }
}
#endif
