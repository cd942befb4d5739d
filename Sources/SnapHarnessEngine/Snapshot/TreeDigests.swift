#if os(Linux)
import Foundation
import Glibc

extension SnapshotDirectory {
    /// A digest of a folder the snapshot keeps (its copy of the code, its merged layers): every entry's path, kind,
    /// mode, size and contents (a link's target); not owners, so a copy made by another user still matches. A restore binds these folders into the environment, so a file
    /// added, removed or changed there since the checkpoint would run in every copy: `loadManifest` refuses it.
    static func treeDigest(_ folder: String) throws -> String {
        var lines: [String] = []
        try DeploymentPackage.walk(folder) { path, st in
            let relative = String(path.dropFirst(folder.count))
            let mode = String(st.st_mode & 0o7777, radix: 8)
            switch st.st_mode & S_IFMT {
            case S_IFDIR: lines.append("d \(relative) \(mode)")
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                lines.append("l \(relative) \(target)")
            default:
                let (digest, length) = try digest(path)
                lines.append("f \(relative) \(mode) \(length) \(digest)")
            }
        }
        return String(format: "%016llx", fnv(Array(lines.sorted().joined(separator: "\n").utf8)))
    }

    /// The folders the manifest vouches for, checked against their digests.
    func verifyTrees(_ manifest: SnapshotManifest) throws {
        for (name, recorded) in (manifest.trees ?? [:]).sorted(by: { $0.key < $1.key }) {
            var st = stat()
            guard lstat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw SnapshotError.damaged(path, reason: "\(name)/ is missing or not a folder")
            }
            guard try SnapshotDirectory.treeDigest(path + "/" + name) == recorded else {
                throw SnapshotError.damaged(path, reason: "\(name)/ differs from what the checkpoint wrote (a file was "
                                            + "added, removed or changed there): it would run in every restored copy")
            }
        }
    }
}
#endif
