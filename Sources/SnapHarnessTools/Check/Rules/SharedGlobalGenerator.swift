#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// PRNG state shared by every copy: a bug when the function draws from the generator, a risk otherwise (a library
/// loaded it; it repeats the moment the handler draws from it).
struct SharedGlobalGenerator: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let reference = input.reference
        let facts = input.facts
        var found: [Finding] = []
        for (name, state, refState, used, drawn, drawers, fix) in [
            ("Python's `random` module", facts.map(\.randomState), reference.randomState, facts.contains(where: \.randomUsed),
             reference.randomDrawn == true, reference.randomDrawers ?? [],
             "reseed in an after-restore hook: `@register_after_restore` def reseed(): random.seed(os.urandom(32))"),
            ("numpy's global random generator", facts.map(\.numpyState), reference.numpyState, facts.contains(where: \.numpyUsed),
             reference.numpyDrawn == true, reference.numpyDrawers ?? [],
             "reseed in an after-restore hook: numpy.random.seed(int.from_bytes(os.urandom(4), 'little')), or create "
             + "generators after restore with numpy.random.default_rng()"),
        ] {
            guard let first = StaleStateCheck.sameInEvery(state), refState != first else { continue }
            // Drawn from during Init (by the function or a library on its behalf): what it drew decided something,
            // and every copy goes on from the same point. Only loaded: nothing repeats until something draws.
            let bug = used || drawn
            var evidence = ["state digest \(first) in every copy; an independent Init had \(refState ?? "none")"]
            if drawn && !used {
                evidence.append(drawers.isEmpty ? "something drew from it during Init (not the function's own modules)"
                                : "drawn from during Init by a library: \(drawers.joined(separator: ", "))")
            } else if !used {
                evidence.append("the function's own modules never draw from it (a library loaded it)")
            }
            found.append(Finding(
                category: "uniqueness", title: "\(name) has the same state in all \(facts.count) restored copies",
                evidence: evidence,
                why: "the generator was seeded once, during Init, and its state is part of the snapshot: every "
                    + "environment restored from it draws the same \"random\" numbers (CPython reseeds after fork(), "
                    + "but nothing reseeds after a restore)"
                    + (bug ? (used ? "" : ". A library drew from it during Init, so whatever it decides with it "
                              + "(sampling, jitter, ids) goes the same way in every copy")
                       : ". Nothing draws from it yet, so nothing repeats today: it is a risk, a bug the "
                       + "moment the handler (or a library on its behalf) draws a number"),
                fix: fix, severity: bug ? .bug : .risk))
        }
        return found
    }
}
#endif
