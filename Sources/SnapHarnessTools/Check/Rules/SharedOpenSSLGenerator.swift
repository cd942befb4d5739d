#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// OpenSSL's generators: the copies drew the same bytes from one (its state is Init's).
struct SharedOpenSSLGenerator: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let facts = input.facts
        var found: [Finding] = []
        for generator in StaleStateCheck.opensslGenerators {
            guard let first = StaleStateCheck.sameInEvery(facts.map { $0.openssl?[generator.key] }) else { continue }
            let direct = facts.contains(where: generator.usedByFunction)
            found.append(Finding(
                category: "entropy", title: "\(generator.name) has the same state in all \(facts.count) restored copies",
                evidence: ["each copy drew the same bytes from it (digest \(first))"]
                    + (direct ? [] : ["the function's own modules do not use `ssl`: a library made a TLS context or "
                                      + "connection during Init (urllib, botocore)"]),
                why: "OpenSSL keeps its own generators (DRBGs) in the process's memory. They were seeded when Init "
                    + "first used them and are part of the snapshot. OpenSSL reseeds on a new process id (a fork), which "
                    + "a restored copy does not get; its per-thread generators reseed after 7 minutes of wall clock, "
                    + "but from the copied primary one, which fetches fresh entropy only hourly (or after 256 reseeds). "
                    + "So keys, nonces and TLS randoms repeat in every copy, for up to an hour"
                    + (direct ? "" : ". Here the system's OpenSSL repeats; Lambda's managed runtime ships its own "
                       + "OpenSSL build, so this is a risk: a bug if that build does not reseed after a restore either"),
                fix: generator.fix, severity: direct ? .bug : .risk))
        }
        return found
    }
}

extension StaleStateCheck {
    /// An OpenSSL generator the inspector probes.
    struct OpenSSLGenerator: Sendable {
        /// Its key in `FunctionFacts.openssl`.
        let key: String
        let name: String
        /// The fix that works (mixing fresh kernel entropy in makes OpenSSL reseed; tried with restored copies).
        let fix: String
        /// Whether the function's own code draws from it (a bug), not only a library on its behalf (a risk).
        let usedByFunction: @Sendable (FunctionFacts) -> Bool
    }

    static let opensslGenerators: [OpenSSLGenerator] = [
        // The system OpenSSL behind `ssl` is primed by any TLS context a library makes at Init (urllib, botocore), and
        // Lambda's managed runtimes ship their own OpenSSL build, whose behaviour after a restore snapharness cannot
        // reproduce: a bug only when the function's own code uses `ssl`.
        OpenSSLGenerator(key: "ssl", name: "OpenSSL's random generator behind Python's `ssl` module",
                         fix: "reseed it in an after-restore hook: `@register_after_restore` def reseed_openssl(): "
                             + "ssl.RAND_add(os.urandom(32), 32.0)",
                         usedByFunction: { $0.sslUsed == true }),
        // The OpenSSL a wheel bundles is the same on Lambda, and only the function's use of `cryptography` draws from it.
        OpenSSLGenerator(key: "cryptography", name: "The random generator of the OpenSSL that `cryptography` bundles",
                         fix: "reseed it in an after-restore hook: `@register_after_restore` def reseed_openssl(): from "
                             + "cryptography.hazmat.bindings.openssl.binding import Binding; "
                             + "Binding.lib.RAND_add(os.urandom(32), 32, 32.0)",
                         usedByFunction: { _ in true }),
    ]
}
#endif
