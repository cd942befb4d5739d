#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// Long-lived AWS keys in environment variables, frozen into the snapshot.
struct CredentialsInEnvironment: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let facts = input.facts
        var found: [Finding] = []
        let envCreds = Set(facts.flatMap(\.environmentCredentials))
        if !envCreds.isEmpty {
            found.append(Finding(
                category: "credentials", title: "AWS credentials come from environment variables frozen into the snapshot",
                evidence: envCreds.sorted().map { "\($0) is set in every copy" },
                why: "the snapshot holds them: every restored copy uses the same, possibly expired, keys; Lambda gives "
                    + "functions rotating container credentials instead",
                fix: "let the SDK use the container credentials provider (AWS_CONTAINER_CREDENTIALS_FULL_URI); don't "
                    + "pass long-lived keys to a SnapStart function"))
        }
        return found
    }
}
#endif
