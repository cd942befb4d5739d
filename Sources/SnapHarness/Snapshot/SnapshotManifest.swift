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
    /// The files a restored copy finds at the paths Init used: CRIU reopens its working folder, its interpreter
    /// and the runtime by path, so a snapshot is not yet self-contained. Names what is missing, before CRIU fails
    /// with a raw mount or file error.
    func checkRestorable() throws {
        let fm = FileManager.default
        var missing: [String] = []
        var isDir: ObjCBool = false
        if !fm.fileExists(atPath: handlerDirectory, isDirectory: &isDir) || !isDir.boolValue {
            missing.append("the function's code folder \(handlerDirectory)")
        }
        if !fm.fileExists(atPath: python) { missing.append("its Python interpreter \(python)") }
        if let lib = environment["SNAPHARNESS_RUNTIME_LIB"], !fm.fileExists(atPath: lib) {
            missing.append("the runtime library folder \(lib)")
        }
        guard missing.isEmpty else {
            throw HarnessError.input("this snapshot cannot be restored here: \(missing.joined(separator: ", ")) "
                + "\(missing.count == 1 ? "is" : "are") gone. A restored copy reopens them at the paths Init used; put "
                + "them back, or take a new snapshot with `snapharness snapshot`")
        }
    }
}
#endif
