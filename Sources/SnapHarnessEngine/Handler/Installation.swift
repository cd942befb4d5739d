#if os(Linux)
import Foundation
import Glibc

/// Where snapharness's own files are, found from the running executable instead of a path compiled in, so a build
/// works wherever it is installed or copied with its folder. Two layouts:
/// - a checkout: the agent under Sources/SnapHarnessEngine/Runtime/python, libraries and CRIU under .deps/ (`make build`);
/// - an install prefix: bin/snapharness next to lib/snapharness/{runtime,python,criu} (`make install PREFIX=...`).
public struct Installation: Sendable, Equatable {
    public let root: String
    /// The runtime agent's Python files (bound at /var/runtime/snapharness).
    public let agentDirectory: String
    /// The runtime's Python libraries: snapshot-restore-py, boto3 (bound at /var/runtime).
    public let library: String
    /// The CRIU that `make deps` built (sbin/criu; libcriu is found through the binary's rpath).
    public let criuPrefix: String

    static let agentFile = "snapharness_bootstrap.py"
    /// pid 1 of a built-in runtime's environment, built by `make deps` into the runtime library folder.
    static let initFile = "snapharness-init"

    public static func checkout(_ root: String) -> Installation {
        Installation(root: root, agentDirectory: root + "/Sources/SnapHarnessEngine/Runtime/python",
                     library: root + "/.deps/python", criuPrefix: root + "/.deps/criu")
    }

    public static func prefix(_ root: String) -> Installation {
        Installation(root: root, agentDirectory: root + "/lib/snapharness/runtime",
                     library: root + "/lib/snapharness/python", criuPrefix: root + "/lib/snapharness/criu")
    }

    /// The layout at `root`, if it holds one.
    public static func at(_ root: String) -> Installation? {
        [prefix(root), checkout(root)].first { access($0.agentDirectory + "/" + agentFile, R_OK) == 0 }
    }

    /// $SNAPHARNESS_HOME (a checkout or a prefix), else the nearest folder above the executable that holds one.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) -> Installation? {
        if let home = environment["SNAPHARNESS_HOME"], !home.isEmpty { return at(home) }
        var dir = (executable as NSString).deletingLastPathComponent
        while dir.count > 1 {
            if let found = at(dir) { return found }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }

    /// The running executable's real path (symlinks resolved, so a link in ~/bin still finds its prefix).
    public static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
#endif
