#if os(Linux)
import Synchronization

/// What a snapharness killed with SIGKILL left behind, as the next one finds and removes it: a line for the user
/// saying what was cleaned. The executable decides where it goes (`report`); a library user may leave it silent.
public enum Leftovers {
    private static let handler = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// Where the lines go (the CLI: its note on stderr).
    public static func report(to sink: @escaping @Sendable (String) -> Void) { handler.withLock { $0 = sink } }

    static func note(_ text: String) { handler.withLock { $0 }?(text) }
}
#endif
