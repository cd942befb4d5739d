#if os(Linux)
import CSandbox
import Foundation
import Glibc

/// Lambda's /tmp (its "ephemeral storage") as a disk of the environment's own: an ext4 image on a loop device.
///
/// A tmpfs inside the dumped mount namespace is tar'd and gzip'd by CRIU on every dump and unpacked on every
/// restore (a 200 MB /tmp: 9.6 s to checkpoint, 1.85 s per copy), and the unpacked files get new inode numbers, so
/// a SQLite database opened during Init takes itself for moved and refuses to write. Lambda snapshots the disk at
/// the block level. So does this: Init writes into the image, the snapshot keeps the image as it is (`tmp.ext4`,
/// sparse), and each restored copy sees it read-only under a private tmpfs through overlayfs (`CopyView`): the
/// same inode numbers (overlayfs with xino off reports the lower file's), nothing to unpack, and copies isolated
/// from each other and from the snapshot. CRIU only records the mount as external (`criuKey`).
public final class EphemeralStorage: @unchecked Sendable {
    /// CRIU's key of the /tmp mount, which a restore provides itself.
    public static let criuKey = "snapharness-tmp"
    /// The image's name in a snapshot folder.
    public static let fileName = "tmp.ext4"

    /// A scratch folder holding the image while Init runs.
    let folder: String
    var image: String { folder + "/" + EphemeralStorage.fileName }
    /// The loop device the image is attached to (auto-cleared when the mount is gone).
    let device: String
    /// The mounted file system, not attached anywhere until the sandbox moves it to /tmp (`SandboxSpec.tmpMount`);
    /// -1 once handed over.
    public private(set) var mountFD: Int32

    private init(folder: String, device: String, mountFD: Int32) {
        self.folder = folder
        self.device = device
        self.mountFD = mountFD
    }

    /// A fresh, empty /tmp of `bytes` (sparse: it costs disk only for what is written), mode 1777 like Lambda's.
    /// `near`: the folder the snapshot goes to: the image is made there when it can be, so the checkpoint moves it
    /// into the snapshot with a rename instead of a copy; else in the host's /tmp.
    public static func create(bytes: UInt64, near: String? = nil) throws -> EphemeralStorage {
        if let near, let storage = try? create(bytes: bytes, scratch: near + "/.snapharness-storage") { return storage }
        return try create(bytes: bytes, scratch: "/tmp/snapharness-storage")
    }

    private static func create(bytes: UInt64, scratch: String) throws -> EphemeralStorage {
        let folder = try ScratchFolder.make(scratch)
        var ok = false
        defer { if !ok { try? FileManager.default.removeItem(atPath: folder) } }
        let image = folder + "/" + fileName
        let fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("create \(image)") }
        let sized = ftruncate(fd, off_t(bytes)) == 0
        let e = errno
        FD.close(fd)
        guard sized else { throw SystemError("size \(image) to \(bytes) bytes", errno: e) }
        try makeFileSystem(image, log: folder + "/mke2fs.log")
        var dev = [CChar](repeating: 0, count: 64)
        let loop = sh_loop_attach(image, 0, &dev, UInt(dev.count))
        guard loop >= 0 else { throw StorageError.loop(image, errno: errno) }
        let mnt = sh_mount_ext4_detached(dev)
        let mountErrno = errno
        FD.close(loop) // the mount holds the device from here on
        guard mnt >= 0 else { throw StorageError.mount("ext4 on \(devicePath(dev))", errno: mountErrno) }
        let storage = EphemeralStorage(folder: folder, device: devicePath(dev), mountFD: mnt)
        // Lambda's /tmp is empty and writable by everyone (sticky), like a tmpfs with mode=1777.
        let root = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if root >= 0 { FD.close(root) } }
        guard root >= 0, fchmod(root, 0o1777) == 0, unlinkat(mnt, "lost+found", AT_REMOVEDIR) == 0 else {
            let failure = SystemError("prepare the /tmp disk")
            storage.discard()
            throw failure
        }
        ok = true
        return storage
    }

    /// The sandbox moved the mount to its /tmp: this process's reference goes, so the file system is released
    /// as soon as the environment's mount namespace is.
    public func handedOver() {
        if mountFD >= 0 { FD.close(mountFD); mountFD = -1 }
    }

    /// Moves the image into a snapshot once the tree that used it is gone (the file system unmounted, the loop
    /// device released). Returns its size and digest for the manifest.
    func seal(into destination: String) throws -> ImageDigest {
        handedOver()
        try waitUntilReleased(timeout: 10)
        if rename(image, destination) != 0 {
            guard errno == EXDEV else { throw SystemError("move \(image) to \(destination)") }
            try EphemeralStorage.copySparse(image, to: destination)
        }
        chmod(destination, 0o600)
        let (digest, bytes) = try SnapshotDirectory.digest(destination, sparse: true)
        return ImageDigest(name: EphemeralStorage.fileName, bytes: bytes, digest: digest)
    }

    /// Removes the image (an Init that is not checkpointed, or whatever a failed checkpoint left).
    public func discard() {
        handedOver()
        try? waitUntilReleased(timeout: 2)
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Waits until the loop device no longer holds the image: every write of the file system is in the file then.
    private func waitUntilReleased(timeout: Double) throws {
        let name = (device as NSString).lastPathComponent
        let deadline = Clock.now + timeout
        let backingFile = "/sys/block/" + name + "/loop/backing_file"
        while let backing = try? String(contentsOfFile: backingFile, encoding: .utf8),
              backing.trimmingCharacters(in: .whitespacesAndNewlines) == image {
            guard Clock.now < deadline else {
                throw HarnessError.input("the /tmp disk (\(image) on \(device)) is still mounted \(Int(timeout)) s after "
                                         + "its environment ended; a process outside the environment may hold it")
            }
            usleep(1000)
        }
    }

    /// e2fsprogs' mke2fs (essential in Debian, so always there in practice).
    package static var mke2fs: String? {
        let candidates: [String] = ["/usr/sbin/mke2fs", "/sbin/mke2fs"]
        return candidates.first { access($0, X_OK) == 0 }
    }

    static func makeFileSystem(_ image: String, log: String) throws {
        guard let mke2fs else {
            throw HarnessError.input("mke2fs is missing: snapharness makes each environment's /tmp an ext4 disk. "
                                     + "Install it with `apt-get install e2fsprogs`")
        }
        // No journal (the disk lives as long as its environment), no reserved blocks (all of it is the function's),
        // inode tables initialised lazily (a 10 GB /tmp is made in milliseconds).
        let child = try CommandSpawn.spawn([mke2fs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0",
                                            "-E", "lazy_itable_init=1,nodiscard", image], outputFile: log)
        let status = child.wait(timeout: 60)
        guard status == .exited(0) else {
            if status == nil { _ = child.terminate() }
            let output = (try? String(contentsOfFile: log, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw HarnessError.input("could not make the /tmp disk \(image): mke2fs \(status.map { "\($0)" } ?? "timed out")"
                                     + (output.isEmpty ? "" : ": \(output)"))
        }
    }

    static func copySparse(_ source: String, to destination: String) throws {
        let from = open(source, O_RDONLY | O_CLOEXEC)
        guard from >= 0 else { throw SystemError("open \(source)") }
        defer { FD.close(from) }
        let to = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard to >= 0 else { throw SystemError("create \(destination)") }
        defer { FD.close(to) }
        guard sh_copy_sparse(from, to) == 0 else {
            let e = SystemError("copy \(source) to \(destination)")
            unlink(destination)
            throw e
        }
    }
}

/// Why a /tmp disk could not be made or shown to a copy, with what to do about it.
enum StorageError: Error, CustomStringConvertible {
    case loop(String, errno: Int32)
    case mount(String, errno: Int32)

    var description: String {
        switch self {
        case let .loop(image, code):
            return "could not attach the /tmp disk \(image) to a loop device: \(String(cString: strerror(code))). "
                + "snapharness needs root and the loop driver (`modprobe loop`; /dev/loop-control must exist)"
        case let .mount(what, code):
            return "could not mount \(what) for /tmp: \(String(cString: strerror(code))). The kernel needs ext4, "
                + "tmpfs and overlayfs (`snapharness doctor` checks them)"
        }
    }
}

extension EphemeralStorage {
    /// One restored copy's /tmp: the snapshot's disk, read-only, under a tmpfs of the copy's own, merged by
    /// overlayfs. It is mounted on the host only while CRIU binds it into the copy, then detached: the copy's mount
    /// namespace is all that holds it, and it goes with the copy.
    public final class CopyView: @unchecked Sendable {
        let folder: String
        /// What CRIU binds at the copy's /tmp.
        var path: String { folder + "/tmp" }

        private init(folder: String) { self.folder = folder }

        /// The view of a snapshot's disk, sized by the function's ephemeral storage; nil for a snapshot without
        /// one (older versions kept /tmp in CRIU's images).
        public static func make(for snapshot: SnapshotDirectory, manifest: SnapshotManifest) throws -> CopyView? {
            guard manifest.tmpDisk != nil else { return nil }
            return try make(image: snapshot.path + "/" + EphemeralStorage.fileName,
                            bytes: UInt64(manifest.function?.ephemeralStorageMB ?? 512) << 20)
        }

        /// CRIU's external mounts with this view as the copy's /tmp.
        package func adding(to mounts: [String: String]) -> [String: String] {
            mounts.merging([EphemeralStorage.criuKey: path]) { _, view in view }
        }

        /// `bytes`: the environment's ephemeral storage.
        static func make(image: String, bytes: UInt64) throws -> CopyView {
            let folder = try ScratchFolder.make("/run/snapharness/tmpview", release: CopyView.detachAll)
            var ok = false
            defer { if !ok { CopyView.detachAll(folder); try? FileManager.default.removeItem(atPath: folder) } }
            let (lower, rw, merged) = (folder + "/disk", folder + "/rw", folder + "/tmp")
            for dir in [lower, rw, merged] where mkdir(dir, 0o700) != 0 { throw SystemError("mkdir \(dir)") }
            var dev = [CChar](repeating: 0, count: 64)
            let loop = sh_loop_attach(image, 1, &dev, UInt(dev.count))
            guard loop >= 0 else { throw StorageError.loop(image, errno: errno) }
            let mounted = mount(dev, lower, "ext4", UInt(MS_RDONLY | MS_NOSUID | MS_NODEV), "noload") == 0
            let e = errno
            FD.close(loop)
            guard mounted else { throw StorageError.mount("\(image) (ext4 on \(devicePath(dev)))", errno: e) }
            // The copy's writes get the whole size: overlayfs reports its upper layer to statfs, so /tmp shows the
            // configured size, as on Lambda (Init's files are not counted against what a copy may add).
            guard mount("tmpfs", rw, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "size=\(bytes),mode=0700") == 0 else {
                throw StorageError.mount("a tmpfs", errno: errno)
            }
            guard mkdir(rw + "/upper", 0o700) == 0, chmod(rw + "/upper", 0o1777) == 0, mkdir(rw + "/work", 0o700) == 0 else {
                throw SystemError("prepare \(rw)")
            }
            // xino=off: a file keeps the inode number it had in Init's /tmp (the lower layer's), before and after a
            // write copies it up.
            let options = "lowerdir=\(lower),upperdir=\(rw)/upper,workdir=\(rw)/work,xino=off,index=off,metacopy=off"
            guard mount("overlay", merged, "overlay", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
                throw StorageError.mount("an overlay of \(image)", errno: errno)
            }
            umount2(lower, Int32(MNT_DETACH)) // the overlay holds both layers itself
            umount2(rw, Int32(MNT_DETACH))
            ok = true
            return CopyView(folder: folder)
        }

        /// Takes the view off the host once CRIU is done with it (the copy keeps its own mount); idempotent.
        public func detach() {
            CopyView.detachAll(folder)
            try? FileManager.default.removeItem(atPath: folder)
        }

        static func detachAll(_ folder: String) {
            for dir in ["/tmp", "/rw", "/disk"] { umount2(folder + dir, Int32(MNT_DETACH)) }
        }
    }
}
/// A device path the C shim wrote into a NUL-terminated buffer.
private func devicePath(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
#endif
