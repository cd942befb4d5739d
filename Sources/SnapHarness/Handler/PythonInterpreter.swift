#if os(Linux)
import Foundation

/// Resolves the Python the function runs under to a real file: pyenv and friends install shell-script shims,
/// and a snapshot must hold the interpreter itself, not a shell that exec'd it.
public enum PythonInterpreter {
    /// Like `resolve`, but when the function's user cannot run the interpreter found (pyenv under a 0700 /root, say),
    /// falls back to the system's /usr/bin/python3 and says so through `note`. An explicit path is never replaced.
    public static func resolve(_ name: String, for user: FunctionUser, note: (String) -> Void) throws -> String {
        let found = try resolve(name)
        if user.canAccess(found, bits: 5) || name.contains("/") { return found }
        if let system = try? resolve("/usr/bin/python3"), user.canAccess(system, bits: 5) {
            note("user \(user.name) cannot run \(found) (\(user.blocker(found, bits: 5) ?? "not accessible")); "
                 + "using \(system). Pass --python to choose another interpreter, or --user root")
            return system
        }
        return found // validate() explains what is in the way
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

/// Errors of the harness itself (bad input, missing pieces), each saying how to fix it.
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
