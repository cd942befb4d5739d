import ArgumentParser
import Foundation
import SnapHarnessEngine

/// Flags that describe the function: shared by `run`, `snapshot` and `check`.
struct FunctionOptions: ParsableArguments {
    @Argument(help: "Folder holding the handler module (Lambda's task root); with --template, the function's logical id (optional when the template has one function).",
              completion: .directory)
    var directory: String?

    @Option(name: [.customShort("t"), .customLong("template")], help: ArgumentHelp(
        "An AWS SAM template (template.yaml): the function's CodeUri, Handler, Runtime, MemorySize, Timeout, Environment, Layers, EphemeralStorage and SnapStart come from it, with Globals.Function applied; flags win over it.",
        valueName: "template.yaml"), completion: .file())
    var template: String?

    @Option(name: .long, help: "Handler as module.function (default: lambda_function.lambda_handler); with --image, it replaces the image's CMD (as Lambda's ImageConfig Command does).")
    var handler: String?

    @Option(name: .long, help: ArgumentHelp(
        "Run the function from a container image instead of a folder: an OCI image layout folder (DIR or DIR:TAG), an oci-archive or docker-archive tarball (docker save, podman save, skopeo copy), or, with skopeo installed, docker://... or containers-storage:.... Its layers become the environment's root (unpacked once into /var/lib/snapharness/images); ENTRYPOINT, CMD, ENV, WORKDIR and USER are obeyed as on Lambda.",
        valueName: "image"))
    var image: String?

    @Option(name: .long, help: ArgumentHelp(
        "Lambda's runtime: python3.12, python3.13 or python3.14 (default: the newest one installed here: pyenv versions, /usr/local/bin, /usr/bin), or provided.al2023 / provided.al2: a custom runtime, the executable `bootstrap` in the folder, speaking the Runtime API.",
        valueName: "runtime"))
    var runtime: String?

    @Option(name: .customLong("runtime-client"), help: ArgumentHelp(
        "Who runs a Python function: `builtin` (snapharness's runtime, which `check` can inspect) or `awslambdaric` (AWS's runtime client, as Lambda starts it: `python -m awslambdaric`, over the Runtime API at 127.0.0.1:9001 inside the environment).",
        valueName: "builtin|awslambdaric"))
    var runtimeClient: String = "builtin"

    @Option(name: .long, help: "Python interpreter for the function instead of --runtime's (a pyenv shim is resolved to the real binary).")
    var python: String?

    @Option(name: .customLong("function-name"), help: "AWS_LAMBDA_FUNCTION_NAME (default: the folder's name).")
    var functionName: String?

    // Numbers parse unconditionally, so `--timeout -1` reaches validation ("must be positive") instead of being
    // taken for a flag ("Missing value").
    @Option(name: .long, parsing: .unconditional, help: "Memory size in MB (128-10240, AWS_LAMBDA_FUNCTION_MEMORY_SIZE; default 128), enforced per environment with a cgroup: over it, Runtime.OutOfMemory.")
    var memory: Int?

    @Option(name: .long, parsing: .unconditional, help: "Invocation timeout in seconds, as Lambda's function timeout (at most 900; default 3).")
    var timeout: Double?

    @Option(name: .customLong("init-timeout"), parsing: .unconditional,
            help: "Init limit in seconds for module code + before-snapshot hooks (default: max(130, --timeout), Lambda's).")
    var initTimeout: Double?

    @Option(name: .customLong("restore-timeout"), parsing: .unconditional,
            help: "Restore limit in seconds for runtime load + after-restore hooks (Lambda: 10).")
    var restoreTimeout: Double = 10

    @Option(name: .customLong("ephemeral-storage"), parsing: .unconditional, help: "Size of /tmp in MB (512-10240, Lambda's default 512).")
    var ephemeralStorage: Int?

    @Option(name: .long, help: "AWS_REGION / AWS_DEFAULT_REGION for the function.")
    var region: String = "us-east-1"

    @Option(name: .customLong("env"), parsing: .singleValue, help: "Set a function environment variable (KEY=VALUE; repeatable).")
    var env: [String] = []

    @Option(name: .customLong("env-file"), help: "Read KEY=VALUE lines into the function's environment (before --env).",
            completion: .file())
    var envFile: String?

    @Option(name: .long, help: ArgumentHelp(
        "User the function runs as (name or uid). Default: $SNAPHARNESS_USER, else sbx_user1051 (uid 993, gid 990, as on Lambda); `root` opts out of the unprivileged sandbox.",
        valueName: "user"))
    var user: String?

    @Option(name: .long, help: "Group the function runs as (default: the user's primary group).")
    var group: String?

    @Option(name: .customLong("layer"), help: ArgumentHelp(
        "A layer's folder (what its zip extracts to); repeatable, in Lambda's order: contents merged under /opt, later layers win, /opt/python on sys.path.",
        valueName: "dir"), completion: .directory)
    var layers: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "CPU per environment: `host` (all of this machine's, fast local runs) or `lambda` (in proportion to --memory, 1,769 MB = one vCPU, as slow as on Lambda).",
        valueName: "host|lambda"))
    var cpu: String = "host"

    @Option(name: .customLong("log-format"), help: ArgumentHelp(
        "How the runtime formats the function's `logging` records, as Lambda's LoggingConfig: Text or JSON (AWS_LAMBDA_LOG_FORMAT).",
        valueName: "Text|JSON"))
    var logFormat: String = "Text"

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "Application log level with --log-format JSON: TRACE, DEBUG, INFO, WARN, ERROR or FATAL (AWS_LAMBDA_LOG_LEVEL).",
        valueName: "level"))
    var logLevel: String?

    @Flag(name: .customLong("pass-aws-credentials"),
          help: "Pass your AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN to the function (off: only the local fake container credentials).")
    var passAWSCredentials = false

    func validate() throws {
        for assignment in env where !assignment.contains("=") {
            throw ValidationError("--env expects KEY=VALUE, got \"\(assignment)\"")
        }
        guard ["builtin", "awslambdaric"].contains(runtimeClient) else {
            throw ValidationError("--runtime-client must be builtin or awslambdaric, got \(runtimeClient)")
        }
        if let runtime, FunctionConfig.customRuntimes.contains(runtime), runtimeClient != "builtin" {
            throw ValidationError("--runtime-client applies to Python runtimes; \(runtime) starts the folder's `bootstrap`")
        }
        guard cpu == "host" || cpu == "lambda" else { throw ValidationError("--cpu must be host or lambda, got \(cpu)") }
        guard FunctionConfig.LogFormat.allCases.contains(where: { $0.rawValue.lowercased() == logFormat.lowercased() }) else {
            throw ValidationError("--log-format must be Text or JSON, got \(logFormat)")
        }
    }

    /// The template's functions (all of them), or nil without --template.
    func templateFunctions() throws -> [SAMTemplate.Function]? {
        try template.map { try SAMTemplate.load($0, region: region).functions }
    }

    func config() throws -> FunctionConfig {
        let sam = try template.map { try SAMTemplate.load($0, region: region).function(directory) }
        return try config(sam)
    }

    /// The function's configuration: flags first, then the template's function (if any), then Lambda's defaults.
    func config(_ sam: SAMTemplate.Function?) throws -> FunctionConfig {
        if let reference = image ?? sam?.imageUri { return try imageConfig(reference, sam) }
        guard let directory = sam?.codeUri ?? directory else {
            throw HarnessError.input("pass the function's folder (the one holding its handler module), or a SAM template "
                                     + "with -t template.yaml")
        }
        if let sam {
            if !sam.snapStart {
                Output.note("note: \(sam.logicalId) has no `SnapStart: ApplyOn: PublishedVersions`: on Lambda it would not be "
                            + "snapshotted; snapharness snapshots it anyway")
            }
            if sam.architectures.contains("arm64") {
                Output.note("note: \(sam.logicalId) is arm64 on Lambda; it runs on this machine's x86_64 here")
            }
        }
        let (environment, sources) = try userEnvironment(sam)
        let functionUser = try resolvedUser(image: nil)
        // A custom runtime still gets an interpreter: the environment's Runtime API server is Python.
        let runtime = self.runtime ?? sam?.runtime
        let custom = runtime.map(FunctionConfig.customRuntimes.contains) ?? false
        let interpreter = try PythonInterpreter.choose(runtime: custom ? nil : runtime, python: python) { Output.note($0) }.path
        var config = FunctionConfig(directory: directory, handler: handler ?? sam?.handler ?? FunctionConfig.defaultHandler,
                              python: interpreter, functionName: functionName ?? sam?.functionName ?? sam?.logicalId,
                              memoryMB: memory ?? sam?.memorySize ?? 128, timeout: timeout ?? sam?.timeout ?? 3,
                              initTimeout: initTimeout, restoreTimeout: restoreTimeout, region: region,
                              userEnvironment: environment,
                              ephemeralStorageMB: ephemeralStorage ?? sam?.ephemeralStorageMB ?? 512)
        config.runtimeClient = custom ? .bootstrap : FunctionConfig.RuntimeClient(rawValue: runtimeClient) ?? .builtin
        config.user = functionUser
        config.environmentSources = sources
        config.layers = layers.isEmpty ? (sam?.layers ?? []) : layers.map { SnapshotDirectory.absolute($0) }
        return finish(config)
    }

    /// A container-image function: the image's root and config, the template's ImageConfig and the flags over them.
    private func imageConfig(_ reference: String, _ sam: SAMTemplate.Function?) throws -> FunctionConfig {
        if image != nil && directory != nil && template == nil {
            throw HarnessError.input("pass either a function folder or --image, not both (an image brings its code)")
        }
        for (flag, given) in [("--runtime", runtime != nil), ("--layer", !layers.isEmpty),
                              ("--runtime-client", runtimeClient != "builtin")] where given {
            throw HarnessError.input("\(flag) does not apply to --image: the image brings its runtime and all its files, "
                                     + "as a container-image function on Lambda does")
        }
        let loaded = try ImageStore.load(reference) { Output.note($0) }
        let (environment, sources) = try userEnvironment(sam)
        let interpreter = try PythonInterpreter.choose(runtime: nil, python: python) { Output.note($0) }.path
        var imageConfig = sam?.imageConfig ?? FunctionConfig.ImageConfig()
        if let handler { imageConfig.command = [handler] }
        let name = functionName ?? sam?.functionName ?? sam?.logicalId ?? Self.defaultName(image: reference)
        var config = FunctionConfig(directory: loaded.rootfs, handler: (imageConfig.command ?? loaded.config.cmd)?.first ?? "",
                                    python: interpreter, functionName: name,
                                    memoryMB: memory ?? sam?.memorySize ?? 128, timeout: timeout ?? sam?.timeout ?? 3,
                                    initTimeout: initTimeout, restoreTimeout: restoreTimeout, region: region,
                                    userEnvironment: environment,
                                    ephemeralStorageMB: ephemeralStorage ?? sam?.ephemeralStorageMB ?? 512)
        config.image = loaded
        config.imageConfig = imageConfig
        config.runtimeClient = FunctionConfig.RuntimeClient.image
        config.user = try resolvedUser(image: loaded)
        config.environmentSources = sources
        return finish(config)
    }

    /// A function name from an image reference: the tag of `DIR:TAG`, else the file's name without its archive
    /// endings (`python-base.oci.tar` -> python-base).
    static func defaultName(image reference: String) -> String {
        var name = (reference as NSString).lastPathComponent
        if let colon = name.lastIndex(of: ":") { name = String(name[name.index(after: colon)...]) }
        for suffix in [".tar.gz", ".tgz", ".tar", ".oci", ".docker"] where name.hasSuffix(suffix) {
            name = String(name.dropLast(suffix.count))
        }
        return FunctionConfig.defaultName(for: name)
    }

    /// The template's variables, then --env-file's, then --env's, and where each came from.
    private func userEnvironment(_ sam: SAMTemplate.Function?) throws -> ([String: String], [String: String]) {
        var environment: [String: String] = sam?.environment ?? [:]
        var sources: [String: String] = [:]
        for key in environment.keys { sources[key] = "the template \(template ?? "")" }
        if let envFile {
            guard let text = try? String(contentsOfFile: envFile, encoding: .utf8) else {
                throw HarnessError.input("cannot read --env-file \(envFile)")
            }
            environment = try FunctionConfig.parseEnvFile(text, path: envFile)
            for key in environment.keys { sources[key] = "--env-file \(envFile)" }
        }
        for assignment in env {
            let (k, v) = try FunctionConfig.parseAssignment(assignment)
            environment[k] = v
            sources[k] = "--env"
        }
        return (environment, sources)
    }

    /// --user/--group or $SNAPHARNESS_USER; else the image's USER; else Lambda's sandbox user.
    private func resolvedUser(image: ContainerImage?) throws -> FunctionUser {
        let fromEnvironment = ProcessInfo.processInfo.environment["SNAPHARNESS_USER"].flatMap { $0.isEmpty ? nil : $0 }
        let resolved: FunctionUser
        if let image, user == nil, fromEnvironment == nil, let spec = image.config.user, !spec.isEmpty {
            resolved = try FunctionUser.fromImage(spec, rootfs: image.rootfs)
        } else {
            resolved = try FunctionUser.resolve(user: user, group: group)
        }
        if resolved.isRoot {
            Output.note("warning: the function runs as root (\(user == nil ? "the image's USER" : "--user root")): code "
                        + "under test can change this machine; Lambda runs functions unprivileged")
        }
        return resolved
    }

    /// What zip and image functions share after their own settings.
    private func finish(_ config: FunctionConfig) -> FunctionConfig {
        var config = config
        config.passAWSCredentials = passAWSCredentials
        config.lambdaCPU = cpu == "lambda"
        if !EnvironmentCgroup.available {
            config.enforceMemory = false
            Output.note("warning: no cgroup memory controller here: --memory \(config.memoryMB) is reported but not enforced")
        }
        config.logFormat = FunctionConfig.LogFormat.allCases.first { $0.rawValue.lowercased() == logFormat.lowercased() } ?? .text
        config.logLevel = logLevel?.uppercased()
        return config
    }
}

/// Flags for serving invocations: shared by `run` and `restore`.
struct InvokeOptions: ParsableArguments {
    @Option(name: .long, help: "Event JSON file for each invocation ('-' reads standard input). Default: {}.")
    var event: String?

    @Option(name: .long, help: "Invocations per restored copy.")
    var invocations: Int = 1

    @Flag(name: .long, help: "Print one machine-readable JSON report on stdout instead of the results.")
    var json = false


    func validate() throws {
        guard invocations >= 0 else { throw ValidationError("--invocations must be 0 or more") }
    }

    /// The event's JSON text, checked to be valid JSON, passed on byte for byte (the lifecycle checks its size).
    func eventText() throws -> String {
        guard let event else { return "{}" }
        let text: String
        if event == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: event) else {
                throw HarnessError.input("cannot read event file \(event)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let checked = try RawJSON(validating: text, source: event == "-" ? "the event on standard input" : "event file \(event)")
        return checked.text
    }
}

/// The local container-credentials endpoint: shared by every command that starts or restores environments.
struct CredentialOptions: ParsableArguments {
    @Option(name: .customLong("credentials-ttl"),
            help: "Lifetime in seconds of the fake container credentials each environment gets (rotated on every restore).")
    var credentialsTTL: Double = 900

    func validate() throws {
        guard credentialsTTL > 0 else { throw ValidationError("--credentials-ttl must be positive") }
    }

    /// A lifecycle with its own credentials endpoint; `body` runs while the endpoint serves. Lambda's log lines and
    /// the function's output go to stderr, also with --json (which only changes what stdout carries).
    /// `silent` drops the log altogether (soak's thousands of cycles).
    func withLifecycle<T>(labelCopies: Bool = false, silent: Bool = false, _ body: (Lifecycle) throws -> T) throws -> T {
        let criu = try Criu.locate()
        let server = try ContainerCredentialsServer(ttl: credentialsTTL)
        defer { server.stop() }
        let log = silent ? LambdaLog.silent : LambdaLog.standardError(labelCopies: labelCopies)
        return try body(Lifecycle(criu: criu, log: log, credentials: server))
    }
}

/// `--restore-delay`: shared by `run` and `check`.
struct LazyOption: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: """
        Restore lazily (userfaultfd): each copy runs as soon as its registers are back and its memory arrives as it is \
        touched, like Lambda loading a snapshot on demand; "all pages in" is reported beside the first response. \
        Default: lazily when the snapshot holds 256 MiB of memory or more (and the kernel has userfaultfd), eagerly \
        below.
        """)
    var lazy: Bool?
}

struct RestoreDelayOption: ParsableArguments {
    @Option(name: .customLong("restore-delay"),
            help: "Wait this long between checkpoint and restore (e.g. 90s, 2m) to show what later restores see.")
    var restoreDelay: String = "0s"

    func validate() throws { _ = try seconds }

    var seconds: Double { get throws { try DurationText.parse(restoreDelay) } }
}
