#if os(Linux)
import Foundation

/// What a snapshot holds, for `snapharness inspect`: the function and its limits, hooks, sizes, CRIU version and
/// whether this machine can restore it. Environment variables are listed by name only: their values may be secrets.
public struct SnapshotSummary: Codable, Sendable {
    public var path: String
    public var createdAt: Date
    public var snapharnessVersion: String?
    public var criuVersion: String
    public var function: String?
    public var handler: String?
    public var runtime: String?
    public var runtimeClient: String?
    /// The container image the snapshot needs (reference and id), for an image function.
    public var image: String?
    public var imageID: String?
    public var memorySizeMB: Int?
    public var timeoutSeconds: Double?
    public var ephemeralStorageMB: Int?
    public var layers: [String]
    /// The Lambda extensions registered at Init (parked in the snapshot with the function).
    public var extensions: [String]
    public var beforeSnapshotHooks: [String]
    public var afterRestoreHooks: [String]
    public var imageBytes: UInt64
    /// What the function's /tmp takes in the snapshot: the blocks its disk uses (`tmp.ext4`, sparse), or CRIU's
    /// compressed archive of it in snapshots of older versions.
    public var tmpBytes: UInt64
    public var initSeconds: Double?
    public var checkpointSeconds: Double
    public var environmentVariables: [String]
    public var restorableHere: Bool
    /// Why not, when it cannot be restored here.
    public var problem: String?

    public init(_ snapshot: SnapshotDirectory, criu: Criu?) throws {
        let manifest = try snapshot.loadManifest()
        let function = manifest.function
        path = snapshot.path
        createdAt = manifest.createdAt
        snapharnessVersion = manifest.snapharnessVersion
        criuVersion = manifest.criuVersion
        self.function = function?.environment["AWS_LAMBDA_FUNCTION_NAME"]
        handler = function?.handler
        runtime = function.map { f in
            if f.image != nil { return "a container image" }
            return f.runtimeClient == .bootstrap ? "provided.al2023" : "python" + FunctionConfig.pythonVersion(of: f.python)
        }
        image = function?.image?.reference
        imageID = function?.image?.id
        runtimeClient = function.map { ($0.runtimeClient ?? .builtin).rawValue }
        memorySizeMB = function?.memorySizeMB
        timeoutSeconds = function?.timeoutSeconds
        ephemeralStorageMB = function?.ephemeralStorageMB
        layers = function?.layers ?? []
        extensions = function?.extensions ?? []
        beforeSnapshotHooks = function?.beforeSnapshotHooks ?? []
        afterRestoreHooks = function?.afterRestoreHooks ?? []
        imageBytes = manifest.imageBytes
        let images = (try? FileManager.default.contentsOfDirectory(atPath: snapshot.imagesPath)) ?? []
        var disk = stat()
        if manifest.tmpDisk != nil, stat(snapshot.path + "/" + EphemeralStorage.fileName, &disk) == 0 {
            tmpBytes = UInt64(disk.st_blocks) * 512
        } else {
            tmpBytes = images.filter { $0.hasPrefix("tmpfs-dev-") }.reduce(0) { total, name in
                let size = (try? FileManager.default.attributesOfItem(atPath: snapshot.imagesPath + "/" + name)[.size]) as? NSNumber
                return total + (size?.uint64Value ?? 0)
            }
        }
        initSeconds = function?.initSeconds
        checkpointSeconds = manifest.dumpSeconds
        environmentVariables = (function?.environment.keys).map { Array($0).sorted() } ?? []
        if let criu {
            do {
                _ = try RestoreSource.open(snapshot, criu: criu)
                restorableHere = true
            } catch let error as LifecycleError {
                restorableHere = false
                problem = error.message
            }
        } else {
            restorableHere = false
            problem = "no CRIU found on this machine (run `make deps`)"
        }
    }
}
#endif
