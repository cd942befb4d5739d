#if os(Linux)
import Foundation

/// A Lambda function as snapharness runs it: handler folder, handler name, runtime and Lambda's limits.
public struct FunctionConfig: Sendable {
    public var directory: String
    public var handler: String
    public var python: String
    public var functionName: String
    public var memoryMB: Int
    /// Invocation limit (Lambda's function timeout, default 3 s).
    public var timeout: Double
    /// Init limit (module code + before-snapshot hooks); nil: Lambda's max(130 s, timeout), at most 900 s.
    public var initTimeoutOverride: Double?
    /// Restore limit (runtime load + after-restore hooks), 10 s on Lambda.
    public var restoreTimeout: Double
    public var region: String
    /// Variables the user set (--env, --env-file), on top of Lambda's own.
    public var userEnvironment: [String: String]
    /// Size of /tmp (Lambda's ephemeral storage, 512 MB by default).
    public var ephemeralStorageMB: Int
    /// Pass the supervisor's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN through. Off by default:
    /// no real credential reaches a function (or a snapshot) unless the user asks.
    public var passAWSCredentials = false
    /// Who the function runs as (unprivileged by default, as on Lambda).
    public var user = FunctionUser(name: "root", uid: 0, gid: 0)
    /// Lambda's LoggingConfig: how the runtime formats the function's `logging` records (Text or JSON), and the
    /// application log level (JSON only, as on Lambda).
    public var logFormat: LogFormat = .text
    public var logLevel: String?
    /// Enforce the memory size with a cgroup per environment (off only where no memory controller exists).
    public var enforceMemory = true
    /// CPU in proportion to memory, as on Lambda (1,769 MB = one vCPU); off: the host's full CPU.
    public var lambdaCPU = false
    /// Layer folders, in Lambda's order: their contents are merged under /opt, later layers win.
    public var layers: [String] = []
    /// AWS_LAMBDA_INITIALIZATION_TYPE: snap-start, or on-demand for the cold path `bench` compares with.
    public var initializationType = "snap-start"
    /// What speaks for the function inside its environment (see `RuntimeClient`).
    public var runtimeClient: RuntimeClient = .builtin
    /// Load snapharness's inspector into awslambdaric's interpreter (for `check`; the built-in runtime has it anyway).
    public var loadInspector = false
    /// Where each user variable came from (`--env-file PATH` or `--env`), for messages about it.
    public var environmentSources: [String: String] = [:]
    /// The container image the function runs from (Lambda's package type Image; `runtimeClient` is then `.image`),
    /// and the function's ImageConfig, which wins over the image's own config as on Lambda.
    public var image: ContainerImage?
    public var imageConfig = ImageConfig()

    /// Lambda's ImageConfig of a function: ENTRYPOINT, CMD and WORKDIR overrides.
    public struct ImageConfig: Codable, Sendable, Equatable {
        public var entryPoint: [String]?
        public var command: [String]?
        public var workingDirectory: String?
        public init(entryPoint: [String]? = nil, command: [String]? = nil, workingDirectory: String? = nil) {
            (self.entryPoint, self.command, self.workingDirectory) = (entryPoint, command, workingDirectory)
        }
    }

    /// The runtime client: the built-in agent, AWS's awslambdaric, or a custom runtime's `bootstrap`; the last two
    /// speak Lambda's Runtime API to an API server inside the environment (snapharness_api.py).
    public enum RuntimeClient: String, Sendable, CaseIterable, Codable {
        case builtin, awslambdaric
        /// A custom runtime (provided.al2023): the executable `bootstrap` in the function's folder.
        case bootstrap
        /// A container image: its ENTRYPOINT + CMD, speaking the Runtime API.
        case image

        public var usesRuntimeAPI: Bool { self != .builtin }

        /// INIT_START's and RESTORE_START's "Runtime Version" (Lambda: python:3.13.v16, provided:al2023.v100).
        func runtimeVersion(python: String) -> String {
            switch self {
            case .builtin: return "python:\(FunctionConfig.pythonVersion(of: python)).snapharness"
            case .awslambdaric: return "python:\(FunctionConfig.pythonVersion(of: python)).awslambdaric"
            case .bootstrap: return "provided:al2023.snapharness"
            case .image: return "container-image.snapharness"
            }
        }

        /// What the sandbox starts as pid 1: the Runtime API server, which starts the runtime as its child; or, for the
        /// built-in runtime, snapharness-init with the agent as its child (the function is never pid 1, as on Lambda).
        /// `execWrapper`: the runtime starts through `AWS_LAMBDA_EXEC_WRAPPER` (the API server does it for awslambdaric).
        func command(python: String, execWrapper: Bool = false) -> (executable: String, arguments: [String]) {
            let agents = LambdaFilesystem.agentDirectory
            if usesRuntimeAPI { return (python, ["-u", agents + "/snapharness_api.py"]) }
            let runtime = [python, "-u", agents + "/snapharness_bootstrap.py"]
            return (LambdaFilesystem.runtimeDirectory + "/" + Installation.initFile,
                    execWrapper ? ["/bin/sh", agents + "/" + FunctionConfig.execWrapperScript] + runtime : runtime)
        }
    }

    /// Where Lambda's Runtime API listens inside every environment (the same in every copy: the address is frozen
    /// into the snapshot with the runtime).
    public static let runtimeAPIAddress = "127.0.0.1:9001"
    /// Lambda's custom runtimes; they all start `bootstrap`.
    public static let customRuntimes = ["provided.al2023", "provided.al2"]

    public enum LogFormat: String, Sendable, CaseIterable, Codable {
        case text = "Text", json = "JSON"
    }

    /// Lambda's application log levels.
    public static let logLevels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

    public static let defaultHandler = "lambda_function.lambda_handler"
    /// Lambda's quotas per execution environment.
    public static let maxFiles: UInt64 = 1024
    public static let maxProcesses: UInt64 = 1024
    /// Lambda's limits on a function name and on its environment variables (names and values, in total).
    public static let maxFunctionNameLength = 64
    public static let maxEnvironmentBytes = 4096
    /// The most ephemeral storage (/tmp) Lambda allows a SnapStart function.
    public static let snapStartEphemeralStorageMB = 512

    /// A memory-limited cgroup for one environment (nil with enforcement off).
    func makeCgroup(label: String) throws -> EnvironmentCgroup? {
        guard enforceMemory else { return nil }
        return try EnvironmentCgroup.create(label: label, memoryMB: memoryMB, lambdaCPU: lambdaCPU)
    }

    /// Where Lambda's folders come from on this machine (see `LambdaFilesystem`).
    func filesystem(runtime: RuntimeFiles, layers merged: String? = nil) -> LambdaFilesystem {
        var layout = LambdaFilesystem(task: directory, runtime: runtime.library, agent: runtime.directory,
                                      language: LambdaFilesystem.installation(of: python).prefix,
                                      layers: merged ?? LambdaFilesystem.emptyLayers)
        if image != nil { layout.image = true }
        return layout
    }

    /// The environment's root: the image's, or the root snapharness builds for a zip function.
    func environmentRoot() throws -> EnvironmentRoot {
        if let image { return EnvironmentRoot(image: image, user: user) }
        return try EnvironmentRoot.prepare(user: user)
    }

    public init(directory: String, handler: String = FunctionConfig.defaultHandler, python: String,
                functionName: String? = nil, memoryMB: Int = 128, timeout: Double = 3,
                initTimeout: Double? = nil, restoreTimeout: Double = 10, region: String = "us-east-1",
                userEnvironment: [String: String] = [:], ephemeralStorageMB: Int = 512) {
        self.directory = SnapshotDirectory.absolute(directory)
        self.handler = handler
        self.python = python
        self.functionName = functionName ?? FunctionConfig.defaultName(for: self.directory)
        self.memoryMB = memoryMB
        self.timeout = timeout
        self.initTimeoutOverride = initTimeout
        self.restoreTimeout = restoreTimeout
        self.region = region
        self.userEnvironment = userEnvironment
        self.ephemeralStorageMB = ephemeralStorageMB
    }

    public var initTimeout: Double { initTimeoutOverride ?? min(900, max(130, timeout)) }

    /// What the sandbox starts as pid 1 (see `RuntimeClient.command`). In an image, the Runtime API server runs on
    /// this machine's interpreter and libraries, bound under `ImageStore.harnessFolder` and loaded by this machine's
    /// dynamic loader: nothing of it depends on the image's userland.
    func launch() -> (executable: String, arguments: [String]) {
        guard image != nil else {
            return runtimeClient.command(python: LambdaFilesystem.installation(of: python).executable,
                                         execWrapper: usesExecWrapper)
        }
        let hidden = ImageStore.harnessFolder
        let python = hidden + "/lang/bin/" + (self.python as NSString).lastPathComponent
        let loader = LambdaFilesystem.hostLoader
        // This machine's /usr is at hidden + "/usr": its loader and library folders keep their paths below it.
        let libraries = ([hidden + "/lang/lib"] + LambdaFilesystem.hostLibraryFolders.map { hidden + $0 })
            .joined(separator: ":")
        return (hidden + loader, ["--library-path", libraries, python, "-u", hidden + "/agent/snapharness_api.py"])
    }

    /// Lambda's Python runtimes start the runtime through `AWS_LAMBDA_EXEC_WRAPPER` when it is set; custom runtimes
    /// (OS-only) ignore it, and an image's own bootstrap does what AWS's base images do.
    var usesExecWrapper: Bool {
        image == nil && runtimeClient != .bootstrap && !(userEnvironment["AWS_LAMBDA_EXEC_WRAPPER"] ?? "").isEmpty
    }

    /// Lambda's bootstrap logic for `AWS_LAMBDA_EXEC_WRAPPER`, in the agent's folder.
    static let execWrapperScript = "snapharness_exec_wrapper.sh"

    /// The image's command after the function's ImageConfig.
    public var imageCommand: [String] {
        image?.command(entryPoint: imageConfig.entryPoint, command: imageConfig.command) ?? []
    }

    /// The image's working folder after the function's ImageConfig ("/" when neither names one).
    public var imageWorkingDirectory: String {
        imageConfig.workingDirectory ?? image?.config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
    }

    /// A function name Lambda would accept, from the folder name.
    public static func defaultName(for directory: String) -> String {
        let base = (directory as NSString).lastPathComponent
        let cleaned = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber) || $0 == "-" || $0 == "_" ? $0 : "-" })
        return cleaned.isEmpty ? "function" : String(cleaned.prefix(64))
    }

    /// Variables Lambda sets itself; setting them is an error on Lambda too.
    public static let reservedVariables: Set<String> = [
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "SNAPHARNESS_RUNTIME_LIB", "SNAPHARNESS_RUNTIME_CLIENT", "SNAPHARNESS_INSPECT", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL",
    ]

    /// Checks what can be checked before starting anything; each error says how to fix it.
    public func validate() throws {
        try validateFolders()
        try validateProgram()
        try validateSettings()
        try validateLambdaLimits()
    }

    /// The function's folder and layers: folders, a deployment package Lambda would take, readable by its user.
    private func validateFolders() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw HarnessError.input("handler folder \(directory) does not exist. Pass the folder that holds your "
                                     + "handler module, e.g. `snapharness run ./my-function`")
        }
        guard isDir.boolValue else {
            throw HarnessError.input("\(directory) is not a folder. Pass the folder that holds your handler module "
                                     + "(and use --handler module.function to choose the handler)")
        }
        for layer in layers {
            var isLayerDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: layer, isDirectory: &isLayerDir), isLayerDir.boolValue else {
                throw HarnessError.input("--layer \(layer) is not a folder. Pass the folder a layer's zip extracts to "
                                         + "(its contents appear under /opt, e.g. python/ for Python packages)")
            }
        }
        if DeploymentPackage.isSystemTree(directory) {
            throw HarnessError.input("\(directory) is a kernel or device file system, not a function's folder. Pass the "
                                     + "folder that holds your handler module")
        }
        if image == nil { try DeploymentPackage.check(code: directory, layers: layers) }
        if directory == "/tmp" {
            throw HarnessError.input("the handler folder cannot be /tmp itself: the function gets a private /tmp of its "
                                     + "own, as on Lambda. Put the handler in a folder of its own")
        }
        guard user.canUse(directory, bits: 5) else {
            throw HarnessError.input("the function runs as user \(user.name), who cannot read \(directory) (it becomes "
                + "/var/task). Make the folder readable (chmod o+rx), or run the function as root with --user root")
        }
    }

    /// What will run: the handler module (not a dangling link), the interpreter, a custom runtime's bootstrap.
    private func validateProgram() throws {
        // A handler module that is a link to nothing: say so, not Python's "No module named" after a whole start-up.
        if image == nil, runtimeClient != .bootstrap, let dot = handler.lastIndex(of: ".") {
            let module = directory + "/" + handler[..<dot].replacingOccurrences(of: ".", with: "/") + ".py"
            var st = stat()
            if lstat(module, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, stat(module, &st) != 0 {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: module)) ?? "?"
                throw HarnessError.input("the handler module \(module) is a symbolic link to \(target), which does not "
                                         + "exist; point it at the module's file, or copy the file there")
            }
        }
        guard user.canUse(python, bits: 5) else {
            throw HarnessError.input("the function runs as user \(user.name), who cannot run \(python) (mode bits). "
                + "Pass --python with an interpreter \(user.name) can run, or --user root")
        }
        if runtimeClient == .bootstrap {
            let bootstrap = directory + "/bootstrap"
            guard FileManager.default.fileExists(atPath: bootstrap) else {
                throw HarnessError.input("a custom runtime (provided.al2023) starts the executable `bootstrap` in the "
                                         + "function's folder, and \(directory) has none. Add one (see Examples/custom-runtime)")
            }
            guard access(bootstrap, X_OK) == 0 else {
                throw HarnessError.input("\(bootstrap) is not executable: `chmod +x \(bootstrap)` (Lambda starts it as a program)")
            }
        }
    }

    /// The flags' own ranges and combinations, and variables that are Lambda's to set.
    private func validateSettings() throws {
        let reserved = userEnvironment.keys.filter(FunctionConfig.reservedVariables.contains).sorted()
        guard reserved.isEmpty else {
            let sources = Set(reserved.map { environmentSources[$0] ?? "--env" }).sorted().joined(separator: " / ")
            throw HarnessError.input("reserved environment variable(s) \(reserved.joined(separator: ", ")) cannot be "
                                     + "set with \(sources): Lambda sets them itself (use the matching flag, e.g. --handler, --memory)")
        }
        for (flag, value) in [("--timeout", timeout), ("--restore-timeout", restoreTimeout), ("--init-timeout", initTimeout)] {
            guard value.isFinite, value > 0 else {
                throw HarnessError.input("\(flag) must be a positive number of seconds, got \(value)")
            }
        }
        guard timeout <= 900 else {
            throw HarnessError.input("--timeout must be at most 900 seconds (Lambda's limit), got \(timeout)")
        }
        if let logLevel, !FunctionConfig.logLevels.contains(logLevel) {
            throw HarnessError.input("--log-level must be one of \(FunctionConfig.logLevels.joined(separator: ", ")), got \(logLevel)")
        }
        if logLevel != nil && logFormat != .json {
            throw HarnessError.input("--log-level needs --log-format JSON: Lambda applies the application log level "
                                     + "only to JSON logs")
        }
        guard (128...10240).contains(memoryMB) else {
            throw HarnessError.input("--memory must be between 128 and 10240 MB (Lambda's range), got \(memoryMB)")
        }
    }

    /// Lambda's configuration limits, refused before anything runs as Lambda refuses them at CreateFunction.
    private func validateLambdaLimits() throws {
        let nameCharacters = functionName.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
        }
        guard (1...FunctionConfig.maxFunctionNameLength).contains(functionName.count), nameCharacters else {
            throw HarnessError.input("function name \"\(functionName.prefix(80))\" (\(functionName.count) characters): Lambda "
                + "accepts 1 to \(FunctionConfig.maxFunctionNameLength) letters, digits, - and _. Pass --function-name")
        }
        let variableBytes = userEnvironment.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard variableBytes <= FunctionConfig.maxEnvironmentBytes else {
            throw HarnessError.input("the function's environment variables take \(variableBytes) bytes: Lambda refuses more "
                + "than 4 KB (\(FunctionConfig.maxEnvironmentBytes) bytes, names and values) in total. Keep large values "
                + "elsewhere (a file in the function's folder, SSM Parameter Store, Secrets Manager)")
        }
        guard (512...10240).contains(ephemeralStorageMB) else {
            throw HarnessError.input("--ephemeral-storage must be between 512 and 10240 MB (Lambda's range), got \(ephemeralStorageMB)")
        }
        guard ephemeralStorageMB <= FunctionConfig.snapStartEphemeralStorageMB else {
            throw HarnessError.input("ephemeral storage of \(ephemeralStorageMB) MB (--ephemeral-storage, or the template's "
                + "EphemeralStorage.Size): Lambda refuses SnapStart with ephemeral storage above "
                + "\(FunctionConfig.snapStartEphemeralStorageMB) MB (AWS: SnapStart limitations). Use 512, the default")
        }
    }

    /// The function's whole environment: Lambda's variables plus the user's; nothing of the supervisor's leaks in.
    public func environment(runtime: RuntimeFiles) -> [String: String] {
        if let image { return imageEnvironment(image) }
        let pythonVersion = FunctionConfig.pythonVersion(of: python)
        // SnapStart functions get no AWS_LAMBDA_LOG_GROUP_NAME / AWS_LAMBDA_LOG_STREAM_NAME (one snapshot serves
        // many log streams).
        var env = lambdaVariables
        env.merge([
            "_HANDLER": handler,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python\(pythonVersion)",
            "LAMBDA_TASK_ROOT": LambdaFilesystem.taskRoot,
            "LAMBDA_RUNTIME_DIR": LambdaFilesystem.runtimeDirectory,
            "LANG": "en_US.UTF-8",
            "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
            "TZ": ":/etc/localtime",
            "PYTHONDONTWRITEBYTECODE": "1",
            // As Lambda's Python runtime sets it: the runtime's libraries after the function's and the layers' folders.
            "PYTHONPATH": LambdaFilesystem.runtimeDirectory,
            "SNAPHARNESS_RUNTIME_LIB": LambdaFilesystem.runtimeDirectory,
            // Every runtime has it on Lambda; the built-in runtime serves the Extensions API there when it has to.
            "AWS_LAMBDA_RUNTIME_API": FunctionConfig.runtimeAPIAddress,
            "SNAPHARNESS_RUNTIME_VERSION": runtimeClient.runtimeVersion(python: python),
        ]) { _, new in new }
        if runtimeClient.usesRuntimeAPI {
            env["SNAPHARNESS_RUNTIME_CLIENT"] = runtimeClient.rawValue
            if loadInspector { env["SNAPHARNESS_INSPECT"] = "1" }
        }
        if runtimeClient == .bootstrap {
            env["AWS_EXECUTION_ENV"] = nil // custom runtimes get none
        }
        return finished(env)
    }

    /// Lambda's variables for every function, zip or image.
    var lambdaVariables: [String: String] {
        ["AWS_LAMBDA_FUNCTION_NAME": functionName,
         "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": String(memoryMB),
         "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
         "AWS_LAMBDA_INITIALIZATION_TYPE": initializationType,
         "AWS_REGION": region,
         "AWS_DEFAULT_REGION": region,
         "AWS_LAMBDA_LOG_FORMAT": logFormat.rawValue]
    }

    /// The log level, the caller's AWS credentials when asked for, then the user's own variables over everything.
    private func finished(_ environment: [String: String]) -> [String: String] {
        var env = environment
        if let logLevel { env["AWS_LAMBDA_LOG_LEVEL"] = logLevel }
        if passAWSCredentials {
            let mine = ProcessInfo.processInfo.environment
            for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] { env[key] = mine[key] }
        }
        for (k, v) in userEnvironment { env[k] = v }
        return env
    }

    /// An image function's environment: the image's ENV, Lambda's reserved variables over it, then the user's.
    func imageEnvironment(_ image: ContainerImage) -> [String: String] {
        var env = image.environment
        if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin/:/bin" }
        var reserved = lambdaVariables
        reserved.merge([
            "AWS_LAMBDA_RUNTIME_API": FunctionConfig.runtimeAPIAddress,
            "SNAPHARNESS_RUNTIME_CLIENT": RuntimeClient.image.rawValue,
            "SNAPHARNESS_RUNTIME_VERSION": RuntimeClient.image.runtimeVersion(python: python),
            "SNAPHARNESS_IMAGE_COMMAND": String(decoding: (try? JSONEncoder().encode(imageCommand)) ?? Data("[]".utf8),
                                                as: UTF8.self),
            "SNAPHARNESS_WORKDIR": imageWorkingDirectory,
        ]) { _, new in new }
        env.merge(reserved) { _, lambda in lambda }
        if loadInspector { env["SNAPHARNESS_INSPECT"] = "1" }
        return finished(env)
    }

    /// "3.11" from a path such as /usr/bin/python3.11 (falls back to asking the interpreter's folder name).
    static func pythonVersion(of python: String) -> String {
        let name = (python as NSString).lastPathComponent
        if name.hasPrefix("python3."), name.count > 7 { return String(name.dropFirst(6)) }
        return "3"
    }

    /// Parses an env file: KEY=VALUE lines (LF or CRLF), blank lines and `#` comments ignored, optional quotes
    /// stripped.
    public static func parseEnvFile(_ text: String, path: String) throws -> [String: String] {
        var env: [String: String] = [:]
        // By scalar, not Character: "\r\n" is one Character in Swift, so splitting on "\n" kept CRLF files whole.
        let lines = text.unicodeScalars.split(omittingEmptySubsequences: false) { $0 == "\n" }
            .map { String(String.UnicodeScalarView($0)) }
        for (n, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let body = line.hasPrefix("export ") ? String(line.dropFirst(7)) : line
            guard let eq = body.firstIndex(of: "="), eq != body.startIndex else {
                throw HarnessError.input("\(path):\(n + 1): expected KEY=VALUE, got \"\(line.prefix(60))\"")
            }
            var value = String(body[body.index(after: eq)...])
            if value.count >= 2, let q = value.first, (q == "\"" || q == "'"), value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            let key = String(body[..<eq]).trimmingCharacters(in: .whitespaces)
            guard key.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }),
                  let first = key.unicodeScalars.first, !("0"..."9").contains(first) else {
                throw HarnessError.input("\(path):\(n + 1): \"\(key.prefix(60))\" is not a valid environment variable name "
                                         + "(letters, digits and _, not starting with a digit, as Lambda requires)")
            }
            env[key] = value
        }
        return env
    }

    /// Parses one `--env K=V`.
    public static func parseAssignment(_ text: String) throws -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw HarnessError.input("--env expects KEY=VALUE, got \"\(text)\"")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
}
#endif
