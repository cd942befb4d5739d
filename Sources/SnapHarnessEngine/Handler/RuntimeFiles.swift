#if os(Linux)
import Foundation
import Glibc

/// Where the pieces of the local "managed runtime" live: the agent (Python that plays awslambdaric's
/// part) and the runtime libraries (AWS's snapshot-restore-py, installed by `make deps`).
public struct RuntimeFiles: Sendable {
    public let installation: Installation

    /// The files of the installation this executable belongs to (see `Installation`).
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RuntimeFiles {
        guard let installation = Installation.locate(environment: environment) else {
            let home = environment["SNAPHARNESS_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            throw HarnessError.input("the snapharness runtime files are missing: "
                + (home.map { "SNAPHARNESS_HOME=\($0) is neither a checkout nor an install prefix" }
                   ?? "no checkout or install prefix above \(Installation.executable)")
                + ". Build with `make build` in a snapharness checkout, install with `make install PREFIX=DIR`, "
                + "or set SNAPHARNESS_HOME to a checkout or prefix")
        }
        let files = RuntimeFiles(installation: installation)
        guard FileManager.default.fileExists(atPath: files.library + "/snapshot_restore_py.py") else {
            throw HarnessError.input("snapshot-restore-py is not installed in \(files.library). Run `make deps`")
        }
        guard access(files.library + "/" + Installation.initFile, X_OK) == 0 else {
            throw HarnessError.input("\(files.library)/\(Installation.initFile) is missing. Run `make deps`")
        }
        // The agent is bound at /var/runtime/snapharness, inside the library folder bound at /var/runtime.
        if mkdir(files.library + "/snapharness", 0o755) != 0 && errno != EEXIST {
            throw SystemError("mkdir \(files.library)/snapharness (the agent's mount point; run `make deps`)")
        }
        return files
    }

    /// awslambdaric and its libcurl extension for `python`'s CPython, which `make deps` installs for 3.10-3.14.
    func checkAWSRuntimeClient(python: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: library + "/awslambdaric/__init__.py") else {
            throw HarnessError.input("awslambdaric is not installed in \(library). Run `make deps`")
        }
        let abi = FunctionConfig.pythonVersion(of: python).replacingOccurrences(of: ".", with: "")
        let names = (try? fm.contentsOfDirectory(atPath: library)) ?? []
        guard names.contains(where: { $0.hasPrefix("runtime_client.cpython-\(abi)-") }) else {
            throw HarnessError.input("awslambdaric has no build for Python \(FunctionConfig.pythonVersion(of: python)) in "
                                     + "\(library) (its wheels cover CPython 3.10-3.14). Run `make deps`, or pick another "
                                     + "--runtime / --python")
        }
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

    public var agent: String { installation.agentDirectory + "/" + Installation.agentFile }
    public var directory: String { installation.agentDirectory }
    public var library: String { installation.library }
}
#endif
