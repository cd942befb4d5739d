import Foundation
import Testing

/// SAM templates as input (`-t template.yaml [LogicalId]`): Globals applied as SAM applies them, intrinsic functions
/// resolved where a local run can, flags winning, and clear errors for what only a deployed stack knows.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available, TestEnvironment.skipReason))
struct TemplateTests {
    let template = CLI.example("sam-app/template.yaml")

    @Test func theTemplatesValuesReachTheFunction() throws {
        let r = try CLI.run(["run", "-t", template, "HelloFunction"])
        #expect(r.exitCode == 0, "\(r)")
        let seen = object(r.json)
        #expect(seen["message"] as? String == "Hello, world!", "the function's own variable: \(seen)")
        #expect(seen["stage"] as? String == "dev", "!Ref to a parameter's default, from Globals: \(seen)")
        #expect(seen["table"] as? String == "orders-dev-us-east-1", "!Sub with a parameter and a pseudo parameter: \(seen)")
        #expect((seen["layer"] as? String)?.hasPrefix("shared layer at /opt/python/") == true, "the Globals layer: \(seen)")
        #expect(seen["memory"] as? String == "256", "MemorySize from Globals: \(seen)")
        let remaining = seen["remaining_ms"] as? Int ?? 0
        #expect(remaining > 4000 && remaining <= 5000, "the function's Timeout (5) wins over Globals' (10): \(seen)")
        #expect(seen["function"] as? String == "HelloFunction" && seen["tmp_mb"] as? Int == 512, "\(seen)")
        #expect(!r.stderr.contains("would not be snapshotted"), "HelloFunction has SnapStart")

        let flags = try CLI.run(["run", "-t", template, "ReportFunction", "--memory", "512", "--env", "STAGE=prod"])
        #expect(flags.exitCode == 0, "\(flags)")
        #expect(object(flags.json)["memory"] as? String == "512" && object(flags.json)["stage"] as? String == "prod",
                "flags win over the template: \(flags.stdout)")
        #expect(flags.stderr.contains("on Lambda it would not be snapshotted"), "ReportFunction has no SnapStart: \(flags)")
    }

    @Test func templateErrorsNameWhatToFix() throws {
        let ambiguous = try CLI.run(["run", "-t", template])
        #expect(ambiguous.exitCode == 1 && ambiguous.stderr.contains("HelloFunction, ReportFunction"), "\(ambiguous)")
        let unknown = try CLI.run(["run", "-t", template, "Nope"])
        #expect(unknown.exitCode == 1 && unknown.stderr.contains("has no function Nope"), "\(unknown)")
        let bigTmp = try CLI.run(["run", "-t", CLI.fixture("sam_big_tmp/template.yaml")])
        #expect(bigTmp.exitCode == 1 && bigTmp.stderr.contains("ephemeral storage of 2048 MB")
                && bigTmp.stderr.contains("refuses SnapStart with ephemeral storage above 512 MB"), "\(bigTmp)")
        let getAtt = try CLI.run(["run", "-t", CLI.fixture("sam_unresolvable/template.yaml")])
        #expect(getAtt.exitCode == 1, "\(getAtt)")
        #expect(getAtt.stderr.contains("Resources.Worker.Properties.Environment.Variables.QUEUE_URL uses !GetAtt"), "\(getAtt)")
        let missing = try CLI.run(["run", "-t", "/nonexistent/template.yaml"])
        #expect(missing.exitCode == 1 && missing.stderr.contains("cannot read the SAM template"), "\(missing)")
    }

    /// `serve -t` serves every function of the template under its logical id.
    @Test func serveServesEveryFunctionOfTheTemplate() throws {
        try leavesNothingBehind {
            let server = try ServeTests.Server(["-t", template])
            for (name, key) in [("HelloFunction", "message"), ("ReportFunction", "function")] {
                let out = HostFootprint.shell("curl -s -X POST \(server.base)/2015-03-31/functions/\(name)/invocations -d '{}'")
                let seen = object(try? JSONSerialization.jsonObject(with: Data(out.utf8)))
                #expect(seen[key] != nil && seen["memory"] as? String == "256", "\(name): \(out)")
            }
            #expect(server.stop() == 130)
        }
    }
}
