#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// Container credentials fetched during Init and never fetched again by a copy.
struct CredentialsCachedAtInit: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let copies = input.copies
        let facts = input.facts
        let initCredentialFetches = input.initCredentialFetches
        var found: [Finding] = []
        let credentialPaths = Set(facts.flatMap(\.cachedCredentials))
        let stale = copies.filter { ($0.credentialFetches ?? 0) == 0 }
        if initCredentialFetches > 0, !stale.isEmpty {
            var evidence = ["fetched \(initCredentialFetches) time(s) during Init; copies \(stale.map { String($0.copy) }.joined(separator: ", ")) never fetched their rotated credentials"]
            evidence += credentialPaths.sorted().map { "cached at \($0)" }
            found.append(Finding(
                category: "credentials", title: "credentials fetched during Init are cached in the snapshot",
                evidence: evidence,
                why: "Lambda rotates container credentials on every restore; a copy that keeps the Init-time ones "
                    + "uses credentials that belong to another environment and expire (every copy shares them)",
                fix: "fetch credentials in the handler (SDK clients refresh them), or drop the cache in a "
                    + "before-snapshot hook and refetch in an after-restore hook"))
        }
        return found
    }
}
#endif
