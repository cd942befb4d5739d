#if os(Linux)
import Foundation
import Glibc

/// Lambda's filesystem inside the sandbox, made of read-only bind mounts over a read-only host tree (only /tmp
/// and /proc are the sandbox's own):
///
///     /var               a skeleton holding the mount points below (the host's /var is not visible)
///     /var/task          the function's code (LAMBDA_TASK_ROOT, the working folder)
///     /var/runtime       the runtime's libraries: snapshot-restore-py, simplejson (LAMBDA_RUNTIME_DIR)
///     /var/runtime/snapharness   the runtime agent
///     /var/lang          the interpreter's installation (/var/lang/bin/python3.X)
///     /opt               the layers, merged in order (empty without layers)
///
/// Each mount is a CRIU external mount: a snapshot names them by key, and a restore binds the folders it is given
/// (the snapshot's own copy of the code and layers, this machine's runtime and interpreter), so a snapshot does not
/// depend on the function's folder staying where it was.
public struct LambdaFilesystem: Codable, Sendable, Equatable {
    public static let taskRoot = "/var/task"
    public static let runtimeDirectory = "/var/runtime"
    public static let agentDirectory = "/var/runtime/snapharness"
    public static let languageRoot = "/var/lang"
    public static let layersRoot = "/opt"
    /// Mount points of the layout, on the host under /run (0755 folders nobody writes to).
    public static let skeleton = "/run/snapharness/skeleton"

    public var task: String
    public var runtime: String
    public var agent: String
    public var language: String
    public var layers: String

    public init(task: String, runtime: String, agent: String, language: String, layers: String = LambdaFilesystem.emptyLayers) {
        self.task = task
        self.runtime = runtime
        self.agent = agent
        self.language = language
        self.layers = layers
    }

    public static var emptyLayers: String { skeleton + "/opt" }

    /// (host folder, mount point, CRIU key), parents before children.
    var mounts: [(source: String, target: String, key: String)] {
        [(LambdaFilesystem.skeleton + "/var", "/var", "snapharness-var"),
         (task, LambdaFilesystem.taskRoot, "snapharness-task"),
         (runtime, LambdaFilesystem.runtimeDirectory, "snapharness-runtime"),
         (agent, LambdaFilesystem.agentDirectory, "snapharness-agent"),
         (language, LambdaFilesystem.languageRoot, "snapharness-lang"),
         (layers, LambdaFilesystem.layersRoot, "snapharness-opt")]
    }

    var binds: [(source: String, target: String)] { mounts.map { ($0.source, $0.target) } }

    /// The skeleton's folders (idempotent; /run survives between runs, but may be cleaned).
    static func prepareSkeleton() throws {
        for dir in ["/run/snapharness", skeleton, skeleton + "/var", skeleton + "/var/task", skeleton + "/var/runtime",
                    skeleton + "/var/lang", skeleton + "/opt"] {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir \(dir)") }
            if dir != "/run/snapharness" { chmod(dir, 0o755) }
        }
    }

    /// Merges layer folders into a fresh folder under /run/snapharness (later layers win, as Lambda extracts them
    /// into /opt in order). The caller removes it.
    static func mergeLayers(_ layers: [String]) throws -> String {
        let merged = try ScratchFolder.make("/run/snapharness/layers", mode: 0o755)
        let fm = FileManager.default
        do {
            for layer in layers {
                guard let walker = fm.enumerator(atPath: layer) else { continue }
                while let relative = walker.nextObject() as? String {
                    let source = layer + "/" + relative, target = merged + "/" + relative
                    var isDir: ObjCBool = false
                    _ = fm.fileExists(atPath: source, isDirectory: &isDir)
                    if isDir.boolValue {
                        if !fm.fileExists(atPath: target) { try fm.createDirectory(atPath: target, withIntermediateDirectories: true) }
                    } else {
                        if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
                        try fm.copyItem(atPath: source, toPath: target)
                    }
                }
            }
        } catch {
            try? fm.removeItem(atPath: merged)
            throw HarnessError.input("could not merge the layers \(layers.joined(separator: ", ")): \(error.localizedDescription)")
        }
        return merged
    }

    /// The installation an interpreter belongs to: /usr for /usr/bin/python3.11, the version folder for pyenv's.
    static func installation(of python: String) -> (prefix: String, executable: String) {
        let url = URL(fileURLWithPath: python)
        let bin = url.deletingLastPathComponent()
        let prefix = bin.lastPathComponent == "bin" ? bin.deletingLastPathComponent().path : bin.path
        return (prefix, languageRoot + "/bin/" + url.lastPathComponent)
    }

    /// What is missing on this machine to restore a snapshot laid out like this, for the error message.
    func missing() -> [String] {
        var gone: [String] = []
        let fm = FileManager.default
        for (what, path) in [("the function's code", task), ("the runtime library folder", runtime), ("the runtime agent", agent),
                             ("the interpreter's installation", language), ("the layers", layers)]
        where !fm.fileExists(atPath: path) {
            gone.append("\(what) (\(path))")
        }
        return gone
    }
}
#endif
