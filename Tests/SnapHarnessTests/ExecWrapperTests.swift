import Foundation
import Glibc
import SnapHarnessEngine
import Testing

/// `AWS_LAMBDA_EXEC_WRAPPER`, as Lambda's Python runtimes honour it: the runtime starts through the wrapper script,
/// which gets the interpreter and the runtime's arguments; what the wrapper sets up is in Init's environment and in
/// every restored copy; a missing or non-executable wrapper ends Init with Lambda's words and exit codes (127, 126).
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct ExecWrapperTests {
    static let handler = """
        import os, sys
        from snapshot_restore_py import register_after_restore
        AT_INIT = os.environ.get("WRAPPED_BY")
        def lambda_handler(event, context):
            return {"atInit": AT_INIT, "now": os.environ.get("WRAPPED_BY"), "interpreter": sys.executable}
        """

    /// A function folder with the handler and the wrapper scripts of this suite.
    static func function(_ dir: String) throws -> String {
        let folder = try TestEnvironment.function(in: dir, source: handler)
        let scripts = [
            "exec-wrapper": "#!/bin/sh\nexport WRAPPED_BY=exec-wrapper\necho \"wrapper started with $1 and $(($# - 1)) more\"\nexec \"$@\"\n",
            "child-wrapper": "#!/bin/sh\nexport WRAPPED_BY=child-wrapper\n\"$@\"\n",
            "not-executable": "#!/bin/sh\nexec \"$@\"\n",
        ]
        for (name, text) in scripts {
            try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
            chmod(folder + "/" + name, name == "not-executable" ? 0o644 : 0o755)
        }
        return folder
    }

    @Test(arguments: RuntimeClient.allCases)
    func theRuntimeStartsThroughTheWrapper(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("wrapper")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try Self.function(dir)
        try leavesNothingBehind {
            let r = try CLI.run(["run", function, "--restores", "2", "--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/exec-wrapper"]
                                + client.flags)
            #expect(r.exitCode == 0, "\(r)")
            #expect(r.stderr.contains("wrapper started with /var/lang/bin/python3"), "the wrapper gets the interpreter: \(r)")
            let copies = r.jsonLines.map { object(object($0)["result"]) }
            #expect(copies.count == 2, "\(r)")
            for copy in copies {
                #expect(copy["atInit"] as? String == "exec-wrapper" && copy["now"] as? String == "exec-wrapper", "\(copy)")
            }
        }
    }

    @Test(arguments: RuntimeClient.allCases)
    func aMissingOrNonExecutableWrapperEndsInitAsOnLambda(client: RuntimeClient) throws {
        let dir = TestEnvironment.scratchDirectory("wrapper-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try Self.function(dir)
        try leavesNothingBehind {
            for (wrapper, said, code) in [("/var/task/nope", "/var/task/nope: does not exist", 127),
                                          ("/var/task/not-executable", "/var/task/not-executable: is not an executable", 126)] {
                let r = try CLI.run(["run", function, "--env", "AWS_LAMBDA_EXEC_WRAPPER=\(wrapper)"] + client.flags)
                #expect(r.exitCode == 3, "\(r)")
                #expect(r.stderr.contains(said) && r.stderr.contains("Error Type: Runtime.ExitError"), "\(r)")
                #expect(r.stderr.contains("exited with code \(code)"), "the runtime's exit code is Lambda's bootstrap's: \(r)")
            }
        }
    }

    /// A wrapper that keeps itself between pid 1 and the runtime: the built-in runtime, woken by a signal to pid 1's
    /// child, says why it cannot and how to fix it; awslambdaric, woken through the Runtime API, takes it.
    @Test func aWrapperThatDoesNotExec() throws {
        let dir = TestEnvironment.scratchDirectory("wrapper-child")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let function = try Self.function(dir)
        try leavesNothingBehind {
            let args = ["run", function, "--restores", "2", "--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/child-wrapper"]
            let builtin = try CLI.run(args)
            #expect(builtin.exitCode == 3 && builtin.stderr.contains("instead of replacing itself with it")
                    && builtin.stderr.contains("exec \"$@\""), "\(builtin)")
            let ric = try CLI.run(args + RuntimeClient.awslambdaric.flags)
            #expect(ric.exitCode == 0 && ric.jsonLines.count == 2 && ric.stdout.contains("child-wrapper"), "\(ric)")
        }
    }
}
