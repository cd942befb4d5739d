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

    static func digest(_ path: String) throws -> (String, UInt64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        defer { Glibc.close(fd) }
        var digest: UInt64 = 0, length: UInt64 = 0
        guard sh_digest_fd(fd, &digest, &length) == 0 else { throw SystemError("read \(path)") }
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

    func writeVerified(_ names: [String]) {
        let lines = names.compactMap { name in SnapshotDirectory.identity(imagesPath + "/" + name).map { "\(name) \($0)" } }
        let tmp = verifiedPath + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return } // a read-only snapshot is verified again next time
        defer { Glibc.close(fd) }
        guard (try? FD.writeAll(fd, Array((lines.joined(separator: "\n") + "\n").utf8))) != nil,
              rename(tmp, verifiedPath) == 0 else { unlink(tmp); return }
    }

    /// Checks every image against the manifest: present, same size, and (unless provably untouched) same digest.
    public func verifyImages(_ manifest: SnapshotManifest) throws {
        guard let images = manifest.images else { return } // written before digests existed
        var known: [String: String] = [:]
        if let text = try? String(contentsOfFile: verifiedPath, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { known[String(parts[0])] = String(parts[1]) }
            }
        }
        var rehashed = false
        for image in images {
            let file = imagesPath + "/" + image.name
            var st = stat()
            guard stat(file, &st) == 0 else {
                throw SnapshotError.damaged(path, reason: "images/\(image.name) is missing")
            }
            guard UInt64(st.st_size) == image.bytes else {
                throw SnapshotError.damaged(path, reason: "images/\(image.name) holds \(st.st_size) bytes, the manifest "
                                            + "recorded \(image.bytes)")
            }
            if let id = SnapshotDirectory.identity(file), known[image.name] == id { continue }
            let (digest, _) = try SnapshotDirectory.digest(file)
            guard digest == image.digest else {
                throw SnapshotError.damaged(path, reason: "the contents of images/\(image.name) differ from what was "
                                            + "written (digest \(digest), recorded \(image.digest))")
            }
            rehashed = true
        }
        let extra = Set(imageNames()).subtracting(images.map(\.name))
        if !extra.isEmpty {
            throw SnapshotError.damaged(path, reason: "images/ holds files the snapshot did not write: "
                                        + extra.sorted().joined(separator: ", "))
        }
        if rehashed { writeVerified(images.map(\.name)) }
    }
}
#endif
