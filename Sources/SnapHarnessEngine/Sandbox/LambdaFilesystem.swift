#if os(Linux)
import Foundation
import Glibc

/// Lambda's filesystem inside the environment: read-only bind mounts into its root (`EnvironmentRoot`, which holds
/// their mount points):
///
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
    /// /opt without layers: an empty folder nobody writes to.
    public static let emptyLayers = "/run/snapharness/empty"

    public var task: String
    public var runtime: String
    public var agent: String
    public var language: String
    public var layers: String
    /// In a container image's root: the image brings /var/task, /var/runtime, /var/lang and /opt itself; only the
    /// harness's own runtime is bound in, under `ImageStore.harnessFolder` (this machine's /usr, interpreter, agent).
    public var image: Bool?

    public init(task: String, runtime: String, agent: String, language: String, layers: String = LambdaFilesystem.emptyLayers) {
        self.task = task
        self.runtime = runtime
        self.agent = agent
        self.language = language
        self.layers = layers
    }

    /// (host folder, mount point), parents before children.
    var binds: [(source: String, target: String)] {
        if image == true {
            let hidden = ImageStore.harnessFolder
            return [("/usr", hidden + "/usr"), (language, hidden + "/lang"), (agent, hidden + "/agent")]
        }
        return [(task, LambdaFilesystem.taskRoot), (runtime, LambdaFilesystem.runtimeDirectory),
         (agent, LambdaFilesystem.agentDirectory), (language, LambdaFilesystem.languageRoot),
         (layers, LambdaFilesystem.layersRoot)]
    }

    /// This machine's dynamic loader (under /usr, as on merged-/usr systems), which starts the harness's runtime in an
    /// image whatever loader and libc the image has.
    static var hostLoader: String {
        let resolved = URL(fileURLWithPath: "/lib64/ld-linux-x86-64.so.2").resolvingSymlinksInPath().path
        return resolved.hasPrefix("/usr/") ? resolved : "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    }

    /// Where this machine's shared libraries are, under /usr.
    static let hostLibraryFolders = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]

    /// The empty /opt (idempotent; /run survives between runs, but may be cleaned).
    static func prepareEmptyLayers() throws {
        for dir in ["/run/snapharness", emptyLayers] {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir \(dir)") }
        }
        chmod(emptyLayers, 0o755)
    }

    /// Merges layer folders into a fresh folder under /run/snapharness (later layers win, as Lambda extracts them
    /// into /opt in order), keeping every mode and owner as a layer's zip would: a 0700 folder stays closed to the
    /// unprivileged function. /opt itself is Lambda's (0755, root). The caller removes it.
    static func mergeLayers(_ layers: [String]) throws -> String {
        let merged = try ScratchFolder.make("/run/snapharness/layers", mode: 0o755)
        do {
            let cp = try Tools.find("cp")
            for layer in layers {
                _ = try Tools.output([cp, "-a", "--", layer + "/.", merged + "/"], what: "merging the layer \(layer)")
            }
            guard chmod(merged, 0o755) == 0, chown(merged, 0, 0) == 0 else { throw SystemError("chmod \(merged)") }
        } catch {
            try? FileManager.default.removeItem(atPath: merged)
            throw HarnessError.input("could not merge the layers \(layers.joined(separator: ", ")): \(error)")
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
