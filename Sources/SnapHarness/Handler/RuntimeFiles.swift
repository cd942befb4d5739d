#if os(Linux)
import CSandbox
import Foundation
import Glibc

/// Where the pieces of the local "managed runtime" live: the agent (Python that plays awslambdaric's
/// part) and the runtime libraries (AWS's snapshot-restore-py, installed by `make deps`).
public struct RuntimeFiles: Sendable {
    public let home: String

    /// $SNAPHARNESS_HOME, else the checkout this binary was built from.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RuntimeFiles {
        let home = environment["SNAPHARNESS_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? String(cString: sh_configured_home())
        let files = RuntimeFiles(home: home)
        guard FileManager.default.fileExists(atPath: files.agent) else {
            throw HarnessError.input("the snapharness runtime agent is missing (\(files.agent)). Build with `make build` "
                                     + "from a snapharness checkout, or set SNAPHARNESS_HOME to one")
        }
        guard FileManager.default.fileExists(atPath: files.library + "/snapshot_restore_py.py") else {
            throw HarnessError.input("snapshot-restore-py is not installed in \(files.library). Run `make deps`")
        }
        // The agent is bound at /var/runtime/snapharness, inside the library folder bound at /var/runtime.
        if mkdir(files.library + "/snapharness", 0o755) != 0 && errno != EEXIST {
            throw SystemError("mkdir \(files.library)/snapharness (the agent's mount point; run `make deps`)")
        }
        return files
    }

    /// Versions of the runtime's Python libraries (from their .dist-info folders), recorded in snapshots.
    public var libraryVersions: [String: String] {
        var versions: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: library)) ?? [] where name.hasSuffix(".dist-info") {
            let stem = name.dropLast(".dist-info".count)
            guard let dash = stem.lastIndex(of: "-") else { continue }
            versions[String(stem[..<dash])] = String(stem[stem.index(after: dash)...])
        }
        return versions
    }

    public var agent: String { home + "/Sources/SnapHarness/Runtime/python/snapharness_bootstrap.py" }
    public var directory: String { home + "/Sources/SnapHarness/Runtime/python" }
    public var library: String { home + "/.deps/python" }
}
#endif
