import ArgumentParser
import Foundation
import SnapHarness
import SnapHarnessServe

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Lambda's Invoke API on a local port: one restored environment per concurrent request.",
        discussion: """
        Takes a function folder (snapshotted first, with the flags below) or a snapshot folder, and answers POST /2015-03-31/functions/{FunctionName}/invocations as Lambda does (boto3's lambda client or `aws lambda invoke` with --endpoint-url; RIE's /2015-03-31/functions/function/invocations for curl). A request goes to an idle environment; with none idle a new one is restored from the snapshot (its REPORT carries Restore Duration), up to --max-concurrency; past it, 429 TooManyRequestsException. GET /snapharness/environments lists the environments.

        Exit codes: 0 never (it serves until stopped), 1 bad input, 3-5 the snapshot could not be taken, 130/143 stopped by SIGINT/SIGTERM (after tearing every environment down).
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var credentials: CredentialOptions

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on (0: any free port; the URL is printed once ready).")
    var port = 9000

    @Option(name: .customLong("max-concurrency"), help: "Environments at most; past it requests get 429.")
    var maxConcurrency = 10

    @Option(name: .customLong("idle-timeout"), help: "Shut an idle environment down after this long (e.g. 5m, 30s).")
    var idleTimeout = "5m"

    @Flag(name: .long, help: "Restore every request from the snapshot (no environment is reused).")
    var fresh = false

    func validate() throws {
        guard maxConcurrency >= 1 else { throw ValidationError("--max-concurrency must be at least 1") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        _ = try DurationText.parse(idleTimeout)
    }

    func run() throws {
        var signal: Int32 = 0
        try Output.run(json: false) { report in
            try credentials.withLifecycle(labelCopies: true) { lifecycle in
                let scratch = try ScratchFolder.make("/tmp/snapharness-serve")
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                let given = SnapshotDirectory(path: function.directory)
                let snapshot: SnapshotDirectory
                let name: String, region: String
                if given.looksLikeSnapshot {
                    snapshot = given
                    let manifest = try given.loadManifest()
                    name = manifest.function?.environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "function"
                    region = manifest.function?.environment["AWS_REGION"] ?? "us-east-1"
                } else {
                    let config = try function.config()
                    snapshot = SnapshotDirectory(path: scratch + "/snapshot")
                    try lifecycle.snapshot(config, to: snapshot, report: &report)
                    (name, region) = (config.functionName, config.region)
                }
                let source = try RestoreSource.open(snapshot, criu: lifecycle.criu)
                let fleet = EnvironmentFleet(
                    source: source, criu: lifecycle.criu, credentials: lifecycle.credentials,
                    options: .init(maxConcurrency: maxConcurrency, idleTimeout: try DurationText.parse(idleTimeout), fresh: fresh),
                    log: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
                let api = InvokeAPI(functionName: name, region: region, fleet: fleet) { Output.note($0) }
                signal = try InvokeServer.run(api, host: host, port: port) { url in
                    let line = "snapharness serve: \(name) at \(url)/2015-03-31/functions/\(name)/invocations "
                        + "(max \(maxConcurrency) environments\(fresh ? ", fresh" : ""); Ctrl-C stops)\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            }
        }
        if signal != 0 {
            Output.note("stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM"): every environment was shut down")
            throw ExitCode(128 + signal)
        }
    }
}
