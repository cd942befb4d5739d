import ArgumentParser
import Foundation
import SnapHarnessEngine
import SnapHarnessServe

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Lambda's Invoke API on a local port: one restored environment per concurrent request.",
        discussion: """
        Takes a function folder (snapshotted first, with the flags below), a snapshot folder, or a SAM template (-t template.yaml: every function of it, each under its logical id, unless one is named), and answers POST /2015-03-31/functions/{FunctionName}/invocations as Lambda does (boto3's lambda client or `aws lambda invoke` with --endpoint-url; RIE's /2015-03-31/functions/function/invocations for curl). A request goes to an idle environment; with none idle a new one is restored from the snapshot (its REPORT carries Restore Duration), up to --max-concurrency; past it, 429 TooManyRequestsException. GET /snapharness/environments lists the environments.

        Exit codes: 1 bad input, 3-5 a snapshot could not be taken, 130/143 stopped by SIGINT/SIGTERM (after tearing every environment down).
        """
    )

    @OptionGroup var function: FunctionOptions
    @OptionGroup var credentials: CredentialOptions
    @OptionGroup var lazy: LazyOption

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on (0: any free port; the URL is printed once ready).")
    var port = 9000

    @Option(name: .customLong("max-concurrency"), help: "Environments at most, per function; past it requests get 429.")
    var maxConcurrency = 10

    @Option(name: .customLong("idle-timeout"), help: "Shut an idle environment down after this long (e.g. 5m, 30s).")
    var idleTimeout = "5m"

    @Flag(name: .long, help: "Restore every request from the snapshot (no environment is reused).")
    var fresh = false

    @Flag(name: .customLong("no-freeze"), help: "Keep idle environments running between invocations (Lambda freezes them; for measuring what freezing costs, or watching a background thread).")
    var noFreeze = false

    func validate() throws {
        guard maxConcurrency >= 1 else { throw ValidationError("--max-concurrency must be at least 1") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        _ = try DurationText.parse(idleTimeout)
        // Before the snapshot, not after it: a wrong --host or a taken port is said at once.
        do { try InvokeServer.checkAddress(host: host, port: port) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        try Output.run(json: false) { report in
            try credentials.withLifecycle(labelCopies: true) { lifecycle in
                let scratch = try ScratchFolder.make("/tmp/snapharness-serve")
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                // name -> snapshot to serve it from
                var snapshots: [(name: String, snapshot: SnapshotDirectory)] = []
                var region = function.region
                if let given = function.directory.map({ SnapshotDirectory(path: SnapshotDirectory.absolute($0)) }),
                   function.template == nil, given.looksLikeSnapshot {
                    let manifest = try given.loadManifest()
                    region = manifest.function?.environment["AWS_REGION"] ?? region
                    snapshots.append((manifest.function?.environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "function", given))
                } else {
                    let samFunctions: [SAMTemplate.Function?]
                    if let all = try function.templateFunctions(), function.directory == nil {
                        samFunctions = all // a template's functions, each under its logical id
                    } else {
                        samFunctions = [try function.template.map { try SAMTemplate.load($0, region: region).function(function.directory) }]
                    }
                    for sam in samFunctions {
                        var config = try function.config(sam)
                        if let sam { config.functionName = sam.logicalId }
                        let snapshot = SnapshotDirectory(path: scratch + "/" + config.functionName)
                        try lifecycle.snapshot(config, to: snapshot, report: &report)
                        snapshots.append((config.functionName, snapshot))
                    }
                }
                var fleets: [String: EnvironmentFleet] = [:]
                var options = EnvironmentFleet.Options(maxConcurrency: maxConcurrency,
                                                       idleTimeout: try DurationText.parse(idleTimeout), fresh: fresh)
                options.freezeIdle = !noFreeze
                for (name, snapshot) in snapshots {
                    let labelled = snapshots.count > 1
                    var source = try RestoreSource.open(snapshot, criu: lifecycle.criu)
                    source.lazyPages = lazy.lazy ?? source.prefersLazyPages
                    if lazy.lazy == nil && source.lazyPages {
                        StandardStreams.err(RestoreSource.lazyByDefaultNote(manifest: source.manifest) + "\n")
                    }
                    fleets[name] = EnvironmentFleet(
                        source: source, criu: lifecycle.criu,
                        credentials: lifecycle.credentials, options: options,
                        log: { line in StandardStreams.err((labelled ? "[\(name)] " : "") + line + "\n") })
                }
                let api = InvokeAPI(functions: fleets, region: region) { Output.note($0) }
                let names = snapshots.map(\.name)
                try InvokeServer.run(api, host: host, port: port) { url in
                    var text = ""
                    for name in names {
                        text += "snapharness serve: \(name) at \(url)/2015-03-31/functions/\(name)/invocations\n"
                    }
                    text += "snapharness serve: ready (max \(maxConcurrency) environments per function"
                        + "\(fresh ? ", fresh" : ""); Ctrl-C stops)\n"
                    StandardStreams.out(text)
                }
            }
        }
    }
}
