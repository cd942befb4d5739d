import Foundation

/// The control protocol between the supervisor and the agent in the function process (docs/control-protocol.md):
/// one compact JSON object per line. The Python side defines the same constants once (the agent package's
/// protocol module); Tests/Fixtures/protocol holds both sides' messages and these constants, read by both test suites.
public enum ControlProtocol {
    public static let version = 1
    /// Written by the runtime to stdout and stderr after each invocation's output: `<mark><request id>\n`.
    public static let endMark = "\u{1E}snapharness:end:"
    /// snapharness-init's last word when a signal killed the runtime (pid 1 cannot die of it itself).
    public static let exitSignalMark = "\u{1E}snapharness:exit:signal:"
}
