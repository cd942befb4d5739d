#if os(Linux)
import Foundation

/// Resolves the Python the function runs under to a real file: pyenv and friends install shell-script shims,
/// and a snapshot must hold the interpreter itself, not a shell that exec'd it.
public enum PythonInterpreter {
    /// Lambda's Python runtimes that support SnapStart, oldest first.
    public static let runtimes = ["python3.12", "python3.13", "python3.14"]

    /// An interpreter found on this machine for a Lambda runtime identifier.
    public struct Found: Sendable, Equatable {
        public var runtime: String
        public var path: String
    }

    /// Interpreters on this machine by minor version: pyenv's versions ($PYENV_ROOT, else ~/.pyenv), then the
    /// system's /usr/local/bin and /usr/bin. The newest patch release of each minor wins.
    public static func installed(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        let fm = FileManager.default
        var found: [String: (patch: Int, path: String)] = [:]
        let pyenv = environment["PYENV_ROOT"] ?? ((environment["HOME"] ?? "/root") + "/.pyenv")
        for version in (try? fm.contentsOfDirectory(atPath: pyenv + "/versions")) ?? [] {
            let parts = version.split(separator: ".").map { Int($0) }
            guard parts.count == 3, parts[0] == 3, let minor = parts[1], let patch = parts[2] else { continue }
            let path = "\(pyenv)/versions/\(version)/bin/python3.\(minor)"
            if fm.isExecutableFile(atPath: path), patch >= (found["3.\(minor)"]?.patch ?? -1) {
                found["3.\(minor)"] = (patch, path)
            }
        }
        for dir in ["/usr/local/bin", "/usr/bin"] {
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix("python3.") {
                let minor = name.dropFirst("python3.".count)
                guard let m = Int(minor), found["3.\(m)"] == nil, fm.isExecutableFile(atPath: dir + "/" + name) else { continue }
                found["3.\(m)"] = (-1, dir + "/" + name)
            }
        }
        return found.mapValues(\.path)
    }

    /// The interpreter for `--runtime` (a Lambda identifier), or by default the newest SnapStart runtime found;
    /// `--python` overrides both. Without any Python 3.12+, the system's python3 is used with a warning.
    public static func choose(runtime: String?, python: String?, note: (String) -> Void) throws -> Found {
        if let python {
            let path = try resolve(python)
            let found = Found(runtime: "python" + FunctionConfig.pythonVersion(of: path), path: path)
            warnIfUnsupported(found, note: note)
            return found
        }
        let installed = installed()
        if let runtime {
            guard runtimes.contains(runtime) else {
                throw HarnessError.input("--runtime must be one of \(runtimes.joined(separator: ", ")) (Lambda's Python "
                                         + "runtimes with SnapStart), got \(runtime)")
            }
            guard let path = installed[String(runtime.dropFirst("python".count))] else {
                throw HarnessError.input("no interpreter for \(runtime) on this machine (looked in pyenv's versions, "
                    + "/usr/local/bin, /usr/bin). Install it (e.g. `pyenv install \(runtime.dropFirst("python".count))`) "
                    + "or pass --python PATH")
            }
            return Found(runtime: runtime, path: path)
        }
        for runtime in runtimes.reversed() {
            if let path = installed[String(runtime.dropFirst("python".count))] { return Found(runtime: runtime, path: path) }
        }
        let path = try resolve("python3")
        let found = Found(runtime: "python" + FunctionConfig.pythonVersion(of: path), path: path)
        warnIfUnsupported(found, note: note)
        return found
    }

    static func warnIfUnsupported(_ found: Found, note: (String) -> Void) {
        let minor = Int(FunctionConfig.pythonVersion(of: found.path).split(separator: ".").last ?? "") ?? 0
        if minor < 12 {
            note("warning: \(found.path) is Python 3.\(minor); Lambda's SnapStart supports Python 3.12 and later only "
                 + "(pass --runtime python3.12 or newer when it is installed)")
        }
    }

    public static func resolve(_ name: String = "python3") throws -> String {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [name, "-c", "import os, sys; print(os.path.realpath(sys.executable))"]
        let out = Pipe()
        probe.standardOutput = out
        probe.standardError = FileHandle.nullDevice
        do { try probe.run() } catch {
            throw HarnessError.python("cannot run \(name): \(error). Install Python 3 or pass --python /path/to/python3")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        probe.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard probe.terminationStatus == 0, path.hasPrefix("/") else {
            throw HarnessError.python("\(name) is not a working Python 3 (exit \(probe.terminationStatus)). "
                                      + "Pass --python /path/to/python3")
        }
        return path
    }
}
#endif
