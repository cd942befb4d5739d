#if os(Linux)
import Foundation
import Glibc

/// snapharness's image cache: every image is read from where the user keeps it (an OCI layout folder, an oci-archive
/// or docker-archive tarball), each blob checked against its digest, and its layers flattened once, in order,
/// whiteouts honoured, into `/var/lib/snapharness/images/<id>/rootfs`, named by the image's config digest. That
/// folder becomes the root of every environment of the image (read-only), so a snapshot of it depends on the cache
/// and on no host mount. The few entries an environment needs in its root are added once at unpack time: the mount
/// points of /proc, /tmp and the harness's own folder, a minimal /dev, and Lambda's /etc/hosts.
public enum ImageStore {
    public static let base = "/var/lib/snapharness/images"
    /// Where the harness's own runtime (the Runtime API server, with this machine's interpreter and libraries) is
    /// bound inside an image's root: nothing of it depends on the image's userland, which may hold no Python at all.
    public static let harnessFolder = "/.snapharness"

    static func rootfs(of id: String) -> String { base + "/" + hex(id) + "/rootfs" }

    private static func hex(_ id: String) -> String { id.hasPrefix("sha256:") ? String(id.dropFirst(7)) : id }

    /// The image `reference` names, unpacked into the cache if it is not there yet. `progress` hears each long step.
    public static func load(_ reference: String, progress: (String) -> Void = { _ in }) throws -> ContainerImage {
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o700)
        // What a killed snapharness left half-done: removed whatever kind of image this run reads.
        for scratch in [".archive", ".copy", ".unpack"] { ScratchFolder.sweep(base + "/" + scratch) }
        let source = try ImageSource.open(reference, progress: progress)
        defer { source.close() }
        let image = ContainerImage(reference: reference, id: source.configDigest, config: source.config)
        if FileManager.default.fileExists(atPath: image.rootfs) { return image }
        try unpack(source, into: base + "/" + hex(image.id), progress: progress)
        return image
    }

    /// An image a snapshot was taken from, as the cache holds it; loaded again from its reference if the cache lost
    /// it, and refused if the reference now names another image.
    public static func cached(id: String, reference: String, progress: (String) -> Void = { _ in }) throws -> ContainerImage {
        let metadata = base + "/" + hex(id) + "/image.json"
        if let data = FileManager.default.contents(atPath: metadata),
           let image = try? JSONDecoder().decode(ContainerImage.self, from: data),
           FileManager.default.fileExists(atPath: image.rootfs) {
            return image
        }
        let image: ContainerImage
        do { image = try load(reference, progress: progress) } catch {
            throw HarnessError.input("this snapshot needs the image \(reference) (\(id)), which snapharness's image cache no "
                                     + "longer holds and which cannot be read again: \(error)")
        }
        guard image.id == id else {
            throw HarnessError.input("this snapshot was taken from the image \(reference) as it was then (\(id)); that "
                                     + "reference now names another image (\(image.id)). Take a new snapshot with --image")
        }
        return image
    }

    // MARK: - Unpacking

    /// Flattens the layers into a staging folder beside `folder` and renames it into place.
    static func unpack(_ source: ImageSource, into folder: String, progress: (String) -> Void) throws {
        let staging = try ScratchFolder.make(base + "/.unpack", mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let rootfs = staging + "/rootfs"
        guard mkdir(rootfs, 0o755) == 0 else { throw SystemError("mkdir \(rootfs)") }
        // bsdtar (libarchive), not GNU tar: it refuses to write through a symlink an earlier layer planted
        // (`escape -> /` then `escape/etc/...`), to extract `..` or absolute names, and reads gzip and zstd itself.
        let tar = try Tools.find("bsdtar")
        for (n, layer) in source.layers.enumerated() {
            let size = (try? FileManager.default.attributesOfItem(atPath: layer)[.size] as? UInt64) ?? 0
            progress("unpacking layer \(n + 1)/\(source.layers.count) of \(source.reference) (\(size >> 20) MB)")
            // Whiteouts first (they hide what earlier layers put there), then the layer without its whiteout files.
            let listing = try Tools.output([tar, "-tf", layer], what: "listing layer \(n + 1) of \(source.reference)")
            for entry in listing.split(separator: "\n") {
                let path = String(entry).hasPrefix("./") ? String(entry.dropFirst(2)) : String(entry)
                let name = (path as NSString).lastPathComponent, parent = (path as NSString).deletingLastPathComponent
                guard name.hasPrefix(".wh."), !parent.split(separator: "/").contains("..") else { continue }
                // Never through a symlink: a whiteout must not remove anything outside the image.
                guard let dir = folderWithoutSymlinks(rootfs, parent) else { continue }
                if name == ".wh..wh..opq" {
                    for child in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                        try? FileManager.default.removeItem(atPath: dir + "/" + child)
                    }
                } else {
                    try? FileManager.default.removeItem(atPath: dir + "/" + name.dropFirst(4))
                }
            }
            _ = try Tools.output([tar, "-xpf", layer, "-C", rootfs, "--numeric-owner", "--exclude", ".wh.*"],
                                 what: "unpacking layer \(n + 1) of \(source.reference)")
        }
        try prepareEnvironmentEntries(in: rootfs)
        let image = ContainerImage(reference: source.reference, id: source.configDigest, config: source.config)
        let metadata = try JSONEncoder().encode(image)
        guard FileManager.default.createFile(atPath: staging + "/image.json", contents: metadata,
                                             attributes: [.posixPermissions: 0o600]) else {
            throw SystemError("write \(staging)/image.json")
        }
        if rename(staging, folder) != 0 && errno != EEXIST && errno != ENOTEMPTY {
            throw SystemError("rename \(staging) to \(folder)")
        }
    }

    /// `rootfs/relative` if it is a folder reached without following a symlink, else nil.
    static func folderWithoutSymlinks(_ rootfs: String, _ relative: String) -> String? {
        var path = rootfs
        for component in relative.split(separator: "/") where component != "." {
            path += "/" + component
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        }
        return path
    }

    /// What every environment's root must hold whatever the image: mount points, /dev, Lambda's /etc/hosts.
    static func prepareEnvironmentEntries(in rootfs: String) throws {
        let fm = FileManager.default
        for folder in ["proc", "tmp", "dev", "etc", String(harnessFolder.dropFirst())] {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: rootfs + "/" + folder, isDirectory: &isDir), !isDir.boolValue {
                try fm.removeItem(atPath: rootfs + "/" + folder)
            }
            if !fm.fileExists(atPath: rootfs + "/" + folder) {
                guard mkdir(rootfs + "/" + folder, 0o755) == 0 else { throw SystemError("mkdir \(rootfs)/\(folder)") }
            }
        }
        chmod(rootfs + "/tmp", 0o1777)
        for sub in ["usr", "lang", "agent"] { mkdir(rootfs + harnessFolder + "/" + sub, 0o755) }
        for child in (try? fm.contentsOfDirectory(atPath: rootfs + "/dev")) ?? [] {
            try? fm.removeItem(atPath: rootfs + "/dev/" + child)
        }
        try EnvironmentRoot.write(EnvironmentRoot.devices, into: rootfs)
        for name in ["hosts", "hostname"] { try? fm.removeItem(atPath: rootfs + "/etc/" + name) }
        try EnvironmentRoot.write(EnvironmentRoot.networkFiles, into: rootfs)
    }
}

/// Running the few tools the image cache uses (tar, sha256sum, skopeo), with their output.
enum Tools {
    static func find(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"] where access(dir + "/" + name, X_OK) == 0 {
            return dir + "/" + name
        }
        let package = ["sha256sum": "coreutils", "bsdtar": "libarchive-tools"][name] ?? name
        throw HarnessError.input("\(name) is not installed; snapharness needs it to read container images "
                                 + "(`make deps` installs it, or apt-get install \(package))")
    }

    /// Runs `argv` to the end and returns its standard output; a failure names `what` and the tool's own words.
    static func output(_ argv: [String], what: String, timeout: Double = 3600) throws -> String {
        let folder = try ScratchFolder.make("/tmp/snapharness-tool")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = folder + "/out", err = folder + "/err"
        let process = try CommandSpawn.spawn(argv, outputFile: out, errorFile: err)
        let status = process.wait(timeout: timeout) ?? { _ = process.terminate(); return .signaled(SIGKILL) }()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard status == .exited(0) else {
            let why = ((try? String(contentsOfFile: err, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            // The reason comes first in what these tools print: its first lines, not a cut-off tail.
            let reason = why.split(separator: "\n").prefix(3).joined(separator: "; ")
            throw HarnessError.input("\(what) failed (\((argv[0] as NSString).lastPathComponent) \(status)): "
                                     + (reason.isEmpty ? "no reason given" : String(reason.prefix(600))))
        }
        return text
    }

    /// The SHA-256 of a file, as `sha256:<hex>`.
    static func sha256(_ path: String) throws -> String {
        let text = try output([try find("sha256sum"), path], what: "computing the digest of \(path)")
        guard let hex = text.split(separator: " ").first, hex.count == 64 else {
            throw HarnessError.input("sha256sum printed no digest for \(path)")
        }
        return "sha256:" + hex
    }
}
#endif
