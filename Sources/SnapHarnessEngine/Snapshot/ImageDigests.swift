#if os(Linux)
import CSandbox
import Foundation
import Glibc

/// What the manifest records about each CRIU image file, so a damaged snapshot (truncated, partly copied, edited)
/// is refused before CRIU reads it: CRIU's restorer spins forever on a short pages image.
public struct ImageDigest: Codable, Sendable, Equatable {
    public var name: String
    public var bytes: UInt64
    /// 64-bit digest (hex) of the file's contents (`sh_digest_fd`).
    public var digest: String
}

extension SnapshotDirectory {
    /// Image files (CRIU's logs are not part of the image).
    func imageNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: imagesPath)) ?? []).filter { !$0.hasSuffix(".log") }.sorted()
    }

    /// Digests of every image file (once, at checkpoint time).
    func digestImages() throws -> [ImageDigest] {
        try imageNames().map { name in
            let (digest, bytes) = try SnapshotDirectory.digest(imagesPath + "/" + name)
            return ImageDigest(name: name, bytes: bytes, digest: digest)
        }
    }

    /// `sparse`: only the data extents count (a 10 GB /tmp disk that holds 1 MB is read as 1 MB).
    static func digest(_ path: String, sparse: Bool = false) throws -> (String, UInt64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        defer { Glibc.close(fd) }
        var digest: UInt64 = 0, length: UInt64 = 0
        let rc = sparse ? sh_digest_sparse_fd(fd, &digest, &length) : sh_digest_fd(fd, &digest, &length)
        guard rc == 0 else { throw SystemError("read \(path)") }
        return (String(format: "%016llx", digest), length)
    }

    /// Where the identities (inode, change time, size) of the images last found intact are kept: a file whose
    /// identity is unchanged has not been written since (ctime cannot be set back), so the restore path pays a
    /// `stat` per image, and reads the images only after they were copied or touched.
    var verifiedPath: String { path + "/verified" }

    static func identity(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_ino):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec):\(st.st_size)"
    }

    /// The files a manifest vouches for: its CRIU images and its /tmp disk, as (name, path, recorded, sparse).
    func recordedFiles(_ manifest: SnapshotManifest) -> [(name: String, path: String, recorded: ImageDigest, sparse: Bool)] {
        var files = (manifest.images ?? []).map { (name: $0.name, path: imagesPath + "/" + $0.name, recorded: $0, sparse: false) }
        if let disk = manifest.tmpDisk {
            files.append((name: "../" + disk.name, path: path + "/" + disk.name, recorded: disk, sparse: true))
        }
        return files
    }

    func writeVerified(_ manifest: SnapshotManifest) {
        let lines = recordedFiles(manifest).compactMap { file in SnapshotDirectory.identity(file.path).map { "\(file.name) \($0)" } }
        let tmp = verifiedPath + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return } // a read-only snapshot is verified again next time
        defer { Glibc.close(fd) }
        guard (try? FD.writeAll(fd, Array((lines.joined(separator: "\n") + "\n").utf8))) != nil,
              rename(tmp, verifiedPath) == 0 else { unlink(tmp); return }
    }

    /// Checks every image (and the /tmp disk) against the manifest: present, same size, and (unless provably
    /// untouched) same digest.
    public func verifyImages(_ manifest: SnapshotManifest) throws {
        guard manifest.images != nil else { return } // written before digests existed
        var known: [String: String] = [:]
        if let text = try? String(contentsOfFile: verifiedPath, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { known[String(parts[0])] = String(parts[1]) }
            }
        }
        var rehashed = false
        for file in recordedFiles(manifest) {
            let shown = file.sparse ? file.recorded.name : "images/" + file.name
            var st = stat()
            guard lstat(file.path, &st) == 0 else { throw SnapshotError.damaged(path, reason: "\(shown) is missing") }
            // A link could name any file of the host (a tmp.ext4 link would be attached as the copies' disk).
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw SnapshotError.damaged(path, reason: "\(shown) is not a regular file (a symbolic link or a special "
                                            + "file); a snapshot holds only files of its own")
            }
            guard UInt64(st.st_size) == file.recorded.bytes else {
                throw SnapshotError.damaged(path, reason: "\(shown) holds \(st.st_size) bytes, the manifest "
                                            + "recorded \(file.recorded.bytes)")
            }
            if let id = SnapshotDirectory.identity(file.path), known[file.name] == id { continue }
            let (digest, _) = try SnapshotDirectory.digest(file.path, sparse: file.sparse)
            guard digest == file.recorded.digest else {
                throw SnapshotError.damaged(path, reason: "the contents of \(shown) differ from what was "
                                            + "written (digest \(digest), recorded \(file.recorded.digest))")
            }
            rehashed = true
        }
        let extra = Set(imageNames()).subtracting((manifest.images ?? []).map(\.name))
        if !extra.isEmpty {
            throw SnapshotError.damaged(path, reason: "images/ holds files the snapshot did not write: "
                                        + extra.sorted().joined(separator: ", "))
        }
        if rehashed { writeVerified(manifest) }
    }
}
#endif
