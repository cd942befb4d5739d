#if os(Linux)
/// Errors of the harness itself (bad input, missing pieces), each saying how to fix it: the CLI prints the text and
/// exits 1 (`Output.run`). Failures of a lifecycle phase are `LifecycleError`s, which keep their typed cause.
public enum HarnessError: Error, CustomStringConvertible {
    case python(String)
    case input(String)

    public var description: String {
        switch self {
        case .python(let m), .input(let m): return m
        }
    }
}
#endif
