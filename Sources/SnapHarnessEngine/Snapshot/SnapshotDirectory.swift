#if os(Linux)
import Foundation
import Glibc

/// A snapshot on disk:
///
///     SNAP/                 0700
///       manifest.json       0600, written last
///       images/             0700: CRIU's images and dump.log (0600)
///       tmp.ext4            0600: the function's /tmp as Init left it (sparse; see EphemeralStorage)
///       code/, layers/      the function's code and merged layers as Init saw them
///
/// Snapshots hold process memory (secrets, tokens), hence the modes. A snapshot is built under a temporary
/// sibling name and renamed into place only when complete, so an interrupted dump is never mistaken for one.
public struct SnapshotDirectory: Sendable {
    public let path: String

    public var manifestPath: String { path + "/manifest.json" }
    public var imagesPath: String { path + "/images" }
    public var dumpLogPath: String { imagesPath + "/dump.log" }
    /// The function's code as it was at the snapshot (a restore binds it at /var/task).
    public static let codeFolder = "code"
    public var codePath: String { path + "/" + SnapshotDirectory.codeFolder }
    /// The layers merged as Init saw them under /opt.
    public static let layersFolder = "layers"

    public init(path: String) {
        self.path = SnapshotDirectory.absolute(path)
    }

    public static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.standardizedFileURL.path
    }

    /// Reads and checks the manifest; the error says what is wrong with the directory.
    public func loadManifest() throws -> SnapshotManifest {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SnapshotError.notFound(path)
        }
        guard isDir.boolValue else { throw SnapshotError.notASnapshot(path, reason: "it is not a directory") }
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw SnapshotError.notASnapshot(path, reason: "it has no manifest.json (an interrupted or foreign directory)")
        }
        let manifest: SnapshotManifest
        do {
            manifest = try SnapshotManifest.decoder.decode(SnapshotManifest.self, from: data)
        } catch {
            throw SnapshotError.notASnapshot(path, reason: "manifest.json is malformed: \(SnapshotError.describe(error))")
        }
        guard manifest.format == SnapshotManifest.currentFormat else {
            throw SnapshotError.notASnapshot(path, reason:
                "its format is \(manifest.format), this snapharness reads \(SnapshotManifest.currentFormat)")
        }
        guard FileManager.default.fileExists(atPath: imagesPath + "/inventory.img") else {
            throw SnapshotError.notASnapshot(path, reason: "images/inventory.img is missing (CRIU images incomplete)")
        }
        if let problem = manifest.function?.implausibleValue {
            throw SnapshotError.notASnapshot(path, reason: "manifest.json says \(problem) (edited or damaged)")
        }
        try checkOwnership()
        try verifyImages(manifest)
        try verifyTrees(manifest)
        return manifest
    }

    /// A snapshot is code and memory that will run again: refuse one that other users could have changed.
    func checkOwnership() throws {
        let me = geteuid()
        let entries = [path, manifestPath, imagesPath]
            + ((try? FileManager.default.contentsOfDirectory(atPath: imagesPath)) ?? []).map { imagesPath + "/" + $0 }
        for entry in entries {
            var st = stat()
            guard lstat(entry, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                throw SnapshotError.unsafe(path, reason: "\(entry) is a symbolic link; a snapshot holds only files of its "
                    + "own (copy it with cp -a, which keeps files, not links)")
            }
            if st.st_mode & 0o022 != 0 {
                throw SnapshotError.unsafe(path, reason: "\(entry) is writable by other users (mode "
                    + "\(String(st.st_mode & 0o7777, radix: 8))). Restore only snapshots nobody else can change; "
                    + "if this one is yours: chmod -R go-w \(path)")
            }
            if st.st_uid != me && st.st_uid != 0 {
                throw SnapshotError.unsafe(path, reason: "\(entry) belongs to uid \(st.st_uid), not to you or root")
            }
        }
    }

    /// Checks, before any Init is spent on it, that a snapshot can be written here: the parent folder exists and
    /// is writable, and the path is free or holds an older snapshot (never someone's other data).
    public func checkWritableOutput() throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && !looksLikeSnapshot { throw SnapshotError.outputExists(path) }
        let parent = (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDir) else {
            throw SnapshotError.unwritable(path, reason: "its parent folder \(parent) does not exist; create it first "
                                           + "(mkdir -p \(parent)) or choose another -o path")
        }
        guard isDir.boolValue else {
            throw SnapshotError.unwritable(path, reason: "\(parent) is not a folder")
        }
        guard access(parent, W_OK | X_OK) == 0 else {
            throw SnapshotError.unwritable(path, reason: "its parent folder \(parent) is not writable "
                                           + "(\(String(cString: strerror(errno))))")
        }
    }

    /// Copies a folder into the snapshot, modes kept: the function's user reads it through /var/task, and the
    /// snapshot's own 0700 keeps everyone else out. Symbolic links are copied as links.
    /// Modes, owners and links are kept (`cp -a`): a restore binds the copy where the original was bound.
    static func copyTree(_ source: String, to destination: String) throws {
        do {
            _ = try Tools.output([try Tools.find("cp"), "-a", "--", source, destination], what: "copying \(source)")
        } catch {
            throw HarnessError.input("could not copy \(source) into the snapshot: \(error)")
        }
    }

    /// True if the directory carries a manifest (a good or damaged snapshot, not someone's other data).
    public var looksLikeSnapshot: Bool { FileManager.default.fileExists(atPath: manifestPath) }

    /// Total bytes of CRIU images.
    func imageBytes() -> UInt64 {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: imagesPath)) ?? []
        return files.reduce(0) { total, name in
            var st = stat()
            return stat(imagesPath + "/" + name, &st) == 0 ? total + UInt64(st.st_size) : total
        }
    }

    /// Tightens every file to 0600 and directory to 0700 (CRIU's own modes depend on its umask).
    func restrictPermissions() {
        chmod(path, 0o700)
        chmod(imagesPath, 0o700)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: imagesPath)) ?? [] {
            chmod(imagesPath + "/" + name, 0o600)
        }
        chmod(manifestPath, 0o600)
    }

    func writeManifest(_ manifest: SnapshotManifest) throws {
        let data = try JSONValue.prettyData(manifest)
        let fd = open(manifestPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("create \(manifestPath)") }
        defer { FD.close(fd) }
        try FD.writeAll(fd, Array(data))
        guard fsync(fd) == 0 else { throw SystemError("fsync \(manifestPath)") }
    }
}

public enum SnapshotError: Error, CustomStringConvertible {
    case notFound(String)
    case notASnapshot(String, reason: String)
    case outputExists(String)
    case unsafe(String, reason: String)
    case criuMismatch(String, snapshot: String, current: String)
    case unwritable(String, reason: String)
    case damaged(String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let p):
            return "snapshot \(p) does not exist. Create one with `snapharness snapshot DIR -o \(p)`"
        case let .notASnapshot(p, reason):
            return "\(p) is not a usable snapshot: \(reason). Create a new one with `snapharness snapshot DIR -o SNAP`"
        case let .unsafe(p, reason):
            return "refusing to restore \(p): \(reason)"
        case let .criuMismatch(p, snap, current):
            return "\(p) was taken with CRIU \(snap), but this snapharness drives CRIU \(current); CRIU images are "
                + "only restored by the version that wrote them here. Take a new snapshot with `snapharness snapshot`"
        case let .unwritable(p, reason):
            return "cannot write a snapshot to \(p): \(reason)"
        case let .damaged(p, reason):
            return "\(p) is damaged: \(reason). It was changed after it was written (truncated, edited or partly "
                + "copied); CRIU would restore garbage or hang. Take a new snapshot with `snapharness snapshot`"
        case .outputExists(let p):
            return "\(p) exists and is not a snapshot; refusing to overwrite it. Choose another -o path or remove it"
        }
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .keyNotFound(let key, _): return "missing field \"\(key.stringValue)\""
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                return c.debugDescription + (c.codingPath.isEmpty ? "" : " at \(c.codingPath.map(\.stringValue).joined(separator: "."))")
            @unknown default: return "\(e)"
            }
        }
        return "\(error)"
    }
}
#endif
