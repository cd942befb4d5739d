#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol

/// Values made at Init that every copy shares.
struct FrozenValue: CheckRule {
    func findings(_ input: CheckEvidence) -> [Finding] {
        let reference = input.reference
        let facts = input.facts
        let initFacts = input.initFacts
        var found: [Finding] = []
        let credentialPaths = Set(facts.flatMap(\.cachedCredentials))
        let refValues = Dictionary(reference.values.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let perCopy = facts.map { Dictionary($0.values.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }) }
        let atSnapshot = initFacts.map { Dictionary($0.values.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }) }
        for value in facts[0].values {
            if credentialPaths.contains(where: { value.path.hasPrefix($0) }) { continue }
            let all = perCopy.compactMap { $0[value.path] }
            guard all.count == facts.count, all.allSatisfy({ $0.digest == value.digest }),
                  let ref = refValues[value.path], ref.digest != value.digest else { continue }
            // Frozen means the copies still hold what Init left: a value every copy made again (a library's clock
            // reading, refreshed per request, landing in the same second in copies restored together) is not. A
            // generator is the exception: the copies' draws move its state on, in step.
            if value.kind != "generator", let atSnapshot, atSnapshot[value.path]?.digest != value.digest { continue }
            // An item of a list or tuple that the reference holds at another index moved, it was not made: a
            // container built from a set or dict is ordered by the hash seed, which differs between processes.
            if let container = StaleStateCheck.containerPath(value.path),
               reference.values.contains(where: { $0.digest == value.digest && StaleStateCheck.containerPath($0.path) == container }) {
                continue
            }
            found.append(StaleStateCheck.valueFinding(value, copies: facts.count))
        }
        return found
    }
}

extension StaleStateCheck {
    /// "mod.LIST" for "mod.LIST[3]": the list or tuple an indexed value sits in; nil for other paths.
    static func containerPath(_ path: String) -> String? {
        guard path.hasSuffix("]"), let open = path.lastIndex(of: "["),
              Int(path[path.index(after: open)..<path.index(before: path.endIndex)]) != nil else { return nil }
        return String(path[..<open])
    }

    static func valueFinding(_ value: ValueFact, copies: Int) -> Finding {
        switch value.kind {
        case "generator":
            let reseed: String // what gives that object a state of its own in each copy
            switch value.preview {
            case "numpy.random.Generator": reseed = "\(value.path) = numpy.random.default_rng() (assign it in its module)"
            case "numpy.random.RandomState": reseed = "\(value.path).seed(int.from_bytes(os.urandom(4), 'little'))"
            default: reseed = "\(value.path).seed(os.urandom(32))"
            }
            return Finding(
                category: "uniqueness", title: "\(value.path) (\(value.preview)) has the same generator state in every restored copy",
                evidence: ["state digest \(value.digest) in all \(copies) copies; an independent Init's \(value.path) differs"],
                why: "the generator object was seeded during Init and its state is part of the snapshot: every "
                    + "environment restored from it draws the same sequence. Reseeding the `random` module does not "
                    + "touch it",
                fix: "reseed that object in an after-restore hook: `@register_after_restore` def reseed(): \(reseed)")
        case "timestamp":
            return Finding(
                category: "time", title: "\(value.path) was computed from the clock during Init",
                evidence: ["\(value.path) = \(value.preview) in all \(copies) copies (an independent Init differs)"],
                why: "the value is frozen into the snapshot: copies restored minutes or days later still see the "
                    + "Init-time value, so expiry checks, TTLs and \"started at\" times are stale (the wall clock "
                    + "itself jumps forward on restore)",
                fix: "compute it in the handler, or recompute it in an after-restore hook")
        case "bytes":
            return Finding(
                category: "entropy", title: "\(value.path) holds random bytes drawn during Init",
                evidence: ["\(value.path) (\(value.preview)) is identical in all \(copies) copies (an independent Init differs)"],
                why: "bytes read from os.urandom at Init are replayed by every restored copy: nonces, keys and IDs "
                    + "cut from them repeat across environments",
                fix: "call os.urandom / secrets in the handler when the bytes are needed, or refill the pool in an "
                    + "after-restore hook")
        default:
            return Finding(
                category: "uniqueness", title: "\(value.path) looks unique but is the same in every restored copy",
                evidence: ["\(value.path) = \(value.preview) (\(value.kind)) in all \(copies) copies (an independent Init differs)"],
                why: "it was generated once, during Init, and is part of the snapshot: every environment restored "
                    + "from it shares the \"unique\" value (idempotency keys, request ids, tokens collide)",
                fix: "generate it in the handler, or regenerate it in an after-restore hook "
                    + "(`@register_after_restore`)")
        }
    }
}
#endif
