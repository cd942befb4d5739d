#if os(Linux)
import Foundation

/// `manifest.json` of a snapshot directory: what a later, separate snapharness process needs to restore it.
/// Written last: a directory without a valid manifest is never a snapshot.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public static let currentFormat = "snapharness-snapshot/1"

    public var format: String = SnapshotManifest.currentFormat
    public var createdAt: Date
    public var criuVersion: String
    /// CRIU's names of the function's stdio pipes at dump time, handed fresh pipes on every restore.
    public var stdio: StdioKeys
    public var imageBytes: UInt64
    public var dumpSeconds: Double
    /// What the lifecycle layer records about the function (handler, runtime, env, limits); nil for bare processes.
    public var function: FunctionManifest?
    /// Size and digest of every image file, checked before each restore (nil in snapshots of older versions).
    public var images: [ImageDigest]?
    /// The snapharness that wrote the snapshot.
    public var snapharnessVersion: String?
    /// CRIU's key of the network namespace the tree was dumped in, as external: every restore hands CRIU a fresh
    /// one under this key. nil: the tree shared the host's network (bare processes, older snapshots).
    public var networkKey: String?
    /// The tree's TCP connections were dumped established (an in-tree Runtime API server with the runtime's pending
    /// restore/next): restores keep them, and then destroy those whose peer is not in the environment. nil or false:
    /// tcp-close, every connection comes back closed.
    public var tcpEstablished: Bool?
    /// The environment's /tmp as Init left it: an ext4 image (`tmp.ext4`, sparse) that each restore shows its copy
    /// through a copy-on-write view (`EphemeralStorage`). nil: /tmp is a tmpfs inside CRIU's images (older snapshots).
    public var tmpDisk: ImageDigest?
    /// The host folders bound into the environment when it was dumped (CRIU externals, by key), and the user its
    /// root was made for (`EnvironmentRoot`). nil: an older snapshot, taken in a view of the host's mount table.
    public var mounts: [SandboxMount]?
    public var rootUser: FunctionUser?
    /// Digests of the folders the snapshot keeps and a restore binds (`code`, `layers`): see `treeDigest`.
    public var trees: [String: String]?

    public init(createdAt: Date = Date(), criuVersion: String, stdio: StdioKeys, imageBytes: UInt64,
                dumpSeconds: Double, function: FunctionManifest? = nil, images: [ImageDigest]? = nil) {
        self.images = images
        self.snapharnessVersion = SnapHarnessVersion.current
        self.createdAt = createdAt
        self.criuVersion = criuVersion
        self.stdio = stdio
        self.imageBytes = imageBytes
        self.dumpSeconds = dumpSeconds
        self.function = function
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}

/// The function a snapshot holds, as the lifecycle layer describes it.
public struct FunctionManifest: Codable, Sendable, Equatable {
    public var handlerDirectory: String
    public var handler: String
    public var python: String
    public var environment: [String: String]
    public var timeoutSeconds: Double
    public var restoreTimeoutSeconds: Double
    public var memorySizeMB: Int
    public var initSeconds: Double
    public var ephemeralStorageMB: Int = 512
    /// Who the function runs as; restored copies keep it (CRIU restores credentials).
    public var user = FunctionUser(name: "root", uid: 0, gid: 0)
    public var beforeSnapshotHooks: [String] = []
    public var afterRestoreHooks: [String] = []
    /// Lambda's folders as Init had them (host paths behind /var/task, /var/runtime, /var/lang, /opt).
    public var filesystem: LambdaFilesystem?
    /// The runtime's libraries Init imported from (snapshot_restore_py, simplejson, boto3, ...) and their versions.
    public var runtimeLibraries: [String: String]?
    /// Environments get CPU in proportion to memory (--cpu lambda), and the memory size is enforced.
    public var lambdaCPU: Bool?
    public var enforceMemory: Bool?
    /// The --layer folders Init merged under /opt (a copy is in the snapshot).
    public var layers: [String]?
    /// The runtime client Init ran (nil: the built-in one, as in snapshots of older versions).
    public var runtimeClient: FunctionConfig.RuntimeClient?
    /// The container image the function ran from (its root, by id in the image cache); nil for a zip function.
    public var image: ContainerImage?
    /// The Lambda extensions that registered at Init (they are in the snapshot, parked in event/next).
    public var extensions: [String]?

    /// How long an environment's end may take before it is killed: Lambda's Shutdown phase gives extensions 2,000 ms
    /// (the environment's own API server enforces it); without extensions the runtime exits at once.
    static func shutdownSeconds(extensions: Bool) -> Double { extensions ? 3.5 : 2 }

    public init(handlerDirectory: String, handler: String, python: String, environment: [String: String],
                timeoutSeconds: Double, restoreTimeoutSeconds: Double, memorySizeMB: Int, initSeconds: Double) {
        self.handlerDirectory = handlerDirectory
        self.handler = handler
        self.python = python
        self.environment = environment
        self.timeoutSeconds = timeoutSeconds
        self.restoreTimeoutSeconds = restoreTimeoutSeconds
        self.memorySizeMB = memorySizeMB
        self.initSeconds = initSeconds
    }
}

/// Where a restored environment's mounts come from on this machine: its root folder (CRIU's `--root`) and the
/// host folder of each bind, by CRIU key.
public struct RestoreLayout: Sendable {
    public let root: String
    public let mounts: [SandboxMount]
    public var externalMounts: [String: String] { Dictionary(uniqueKeysWithValues: mounts.map { ($0.key, $0.source) }) }

    /// The root this machine has for the snapshot's user, or its image's as the image cache holds it; refuses a
    /// snapshot from before environment roots.
    static func root(_ snapshot: SnapshotDirectory, manifest: SnapshotManifest) throws -> EnvironmentRoot {
        guard manifest.mounts != nil, let user = manifest.rootUser else {
            throw HarnessError.input("\(snapshot.path) was taken by an older snapharness, in a view of the host's mount "
                                     + "table (it cannot be restored reliably). Take a new snapshot with `snapharness snapshot`")
        }
        if let image = manifest.function?.image {
            return EnvironmentRoot(image: try ImageStore.cached(id: image.id, reference: image.reference), user: user)
        }
        return try EnvironmentRoot.prepare(user: user)
    }

    /// A bare process's snapshot: the folders it was dumped with.
    public static func recorded(_ snapshot: SnapshotDirectory, manifest: SnapshotManifest) throws -> RestoreLayout {
        let root = try root(snapshot, manifest: manifest)
        return RestoreLayout(root: root.path, mounts: manifest.mounts ?? [])
    }
}

extension FunctionManifest {
    /// A number no Lambda function can have (what `validate` would have refused before Init), if any: a manifest
    /// edited by hand must not restore with a memory size of 10 MB or a negative timeout.
    var implausibleValue: String? {
        if !(128...10240).contains(memorySizeMB) { return "memorySizeMB \(memorySizeMB) (Lambda: 128-10240)" }
        if !(timeoutSeconds.isFinite && timeoutSeconds > 0 && timeoutSeconds <= 900) {
            return "timeoutSeconds \(timeoutSeconds) (Lambda: more than 0, at most 900)"
        }
        if !(restoreTimeoutSeconds.isFinite && restoreTimeoutSeconds > 0) {
            return "restoreTimeoutSeconds \(restoreTimeoutSeconds) (must be more than 0)"
        }
        if !(512...10240).contains(ephemeralStorageMB) { return "ephemeralStorageMB \(ephemeralStorageMB) (Lambda: 512-10240)" }
        if !(initSeconds.isFinite && initSeconds >= 0) { return "initSeconds \(initSeconds)" }
        return nil
    }

    /// The host folders a restore binds at Lambda's paths: the snapshot's own copy of the code, this machine's
    /// runtime (the one running now) and the interpreter installation Init used. Names what is missing.
    func restoreFilesystem(_ snapshot: SnapshotDirectory, runtime: RuntimeFiles) throws -> LambdaFilesystem {
        guard let recorded = filesystem else {
            throw HarnessError.input("\(snapshot.path) was written by an older snapharness (no Lambda filesystem in its "
                                     + "manifest). Take a new snapshot with `snapharness snapshot`")
        }
        var layout = recorded
        if layout.image == true { // the image brings the code; this machine's agent runs the Runtime API
            layout.agent = runtime.directory
            let missing = layout.language
            guard FileManager.default.fileExists(atPath: missing) else {
                throw HarnessError.input("this snapshot cannot be restored here: the interpreter's installation (\(missing)) "
                    + "that ran its Runtime API server is missing. Install the same interpreter (\(python)), or take a "
                    + "new snapshot")
            }
            return layout
        }
        layout.task = snapshot.codePath
        layout.runtime = runtime.library
        layout.agent = runtime.directory
        if layout.layers != LambdaFilesystem.emptyLayers { layout.layers = snapshot.path + "/" + SnapshotDirectory.layersFolder }
        let missing = layout.missing()
        guard missing.isEmpty else {
            throw HarnessError.input("this snapshot cannot be restored here: \(missing.joined(separator: ", ")) "
                + "\(missing.count == 1 ? "is" : "are") missing. Install the same interpreter (\(python)), run "
                + "`make deps`, or take a new snapshot with `snapharness snapshot`")
        }
        return layout
    }

    /// The environment root and CRIU's external-mount mapping for restoring `snapshot` on this machine.
    public func restoreLayout(_ snapshot: SnapshotDirectory, manifest: SnapshotManifest) throws -> RestoreLayout {
        let root = try RestoreLayout.root(snapshot, manifest: manifest)
        let layout = try restoreFilesystem(snapshot, runtime: try RuntimeFiles.locate())
        return RestoreLayout(root: root.path,
                             mounts: root.systemBinds + layout.binds.map { SandboxMount(source: $0.source, target: $0.target) })
    }
}
#endif
