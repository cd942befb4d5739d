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

extension FunctionManifest {
    /// The host folders a restore binds at Lambda's paths: the snapshot's own copy of the code, this machine's
    /// runtime (the one running now) and the interpreter installation Init used. Names what is missing.
    func restoreFilesystem(_ snapshot: SnapshotDirectory, runtime: RuntimeFiles) throws -> LambdaFilesystem {
        guard let recorded = filesystem else {
            throw HarnessError.input("\(snapshot.path) was written by an older snapharness (no Lambda filesystem in its "
                                     + "manifest). Take a new snapshot with `snapharness snapshot`")
        }
        var layout = recorded
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

    /// CRIU's external-mount mapping for restoring `snapshot` on this machine: key -> host folder.
    public func externalMounts(_ snapshot: SnapshotDirectory) throws -> [String: String] {
        try LambdaFilesystem.prepareSkeleton()
        let layout = try restoreFilesystem(snapshot, runtime: try RuntimeFiles.locate())
        return Dictionary(uniqueKeysWithValues: layout.mounts.map { ($0.key, $0.source) })
    }
}
#endif
