#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// The folder that becomes an environment's "/": built from an allow-list, never a view of the host. It holds
/// Lambda's facts in /etc (the function's user, `sandbox.localdomain`, UTC), a minimal /dev and the mount points of
/// the environment's own mounts; the host's /usr (libc, libssl, libffi, zlib, /bin/sh, tzdata) is bound into it
/// read-only. No host /home, /root, /srv, /run, /mnt, /etc/passwd or checkout is in it.
///
/// The environment's mount namespace holds only: this root (read-only), the system binds, Lambda's folders, /tmp and
/// /proc (`sh_spawn` pivots into it and drops the host's tree). So no mount the host makes or removes, a container's
/// overlay or another snapharness's, can reach a snapshot; CRIU's `--root` on restore is this folder again.
///
/// Its content is derived (the function's user, a few host facts such as the CA bundle and the resolver), named
/// by a digest of that content under /run/snapharness/roots, written once and renamed into place, so concurrent
/// snapharness processes share it and a changed input gives a new folder instead of changing one in use.
public struct EnvironmentRoot: Sendable, Equatable {
    /// The host folder that is "/" inside.
    public let path: String
    /// Host folders bound read-only at the same path inside (CRIU external mounts): /usr, and on a host whose /bin,
    /// /lib, ... are folders rather than links into /usr, those too.
    public let systemFolders: [String]
    /// The function user its /etc/passwd names.
    public let user: FunctionUser

    public static let base = "/run/snapharness/roots"
    /// Every environment's hostname and own address (on its loopback): `sandbox.localdomain` resolves to it.
    public static let hostname = "sandbox"
    public static let address = "169.254.100.1"

    /// Lambda's sandbox user: `id` on Lambda reports uid 993 (sbx_user1051), gid 990.
    public static let lambdaUser = FunctionUser(name: "sbx_user1051", uid: 993, gid: 990)

    private static let prepared = Mutex<[FunctionUser: EnvironmentRoot]>([:])

    /// A container image's root, as the image cache holds it (it brings its own /usr).
    public init(image: ContainerImage, user: FunctionUser) {
        (path, systemFolders, self.user) = (image.rootfs, [], user)
    }

    init(path: String, systemFolders: [String], user: FunctionUser) {
        (self.path, self.systemFolders, self.user) = (path, systemFolders, user)
    }

    /// The root for environments whose function runs as `user`, made if this machine has none yet.
    public static func prepare(user: FunctionUser) throws -> EnvironmentRoot {
        if let known = prepared.withLock({ $0[user] }) { return known }
        let systemFolders = ["/usr"] + ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"].filter(isRealFolder)
        let entries = try contents(user: user, systemFolders: systemFolders)
        let path = base + "/" + digest(of: entries)
        // Layout 1 (bump when the entries change shape); the folder appears whole (renamed into place) or not at all.
        if !FileManager.default.fileExists(atPath: path) { try build(entries, at: path) }
        let root = EnvironmentRoot(path: path, systemFolders: systemFolders, user: user)
        prepared.withLock { $0[user] = root }
        return root
    }

    /// CRIU's key for a bind mount at `target` inside an environment.
    public static func criuKey(for target: String) -> String {
        "snapharness" + target.replacingOccurrences(of: "/", with: "-")
    }

    /// The system binds as (host folder, mount point) pairs.
    var systemBinds: [SandboxMount] { systemFolders.map { SandboxMount(source: $0, target: $0) } }

    // MARK: - What the root holds

    enum Entry: Equatable {
        case folder(String, mode_t)
        case file(String, [UInt8], mode_t)
        case link(String, String)
        case device(String, major: UInt32, minor: UInt32)

        var describing: String {
            switch self {
            case let .folder(p, m): return "d \(p) \(m)"
            case let .file(p, bytes, m): return "f \(p) \(m) \(bytes.count) \(fnv(bytes))"
            case let .link(p, t): return "l \(p) \(t)"
            case let .device(p, major, minor): return "c \(p) \(major):\(minor)"
            }
        }
    }

    private static func isRealFolder(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    private static func hostFile(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    static func contents(user: FunctionUser, systemFolders: [String]) throws -> [Entry] {
        var entries: [Entry] = []
        for folder in ["usr", "etc", "etc/ssl", "etc/ssl/certs", "etc/pki", "etc/pki/tls", "etc/pki/tls/certs", "dev",
                       "proc", "tmp", "var", "var/task", "var/runtime", "var/lang", "opt"] {
            entries.append(.folder(folder, 0o755))
        }
        entries.append(.folder("root", 0o700))
        for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            if systemFolders.contains("/" + name) {
                entries.append(.folder(name, 0o755))
            } else if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/" + name) {
                entries.append(.link(name, target))
            }
        }
        // /etc: Lambda's facts, and the few host files the system libraries read (no host user or host name).
        var passwd = ["root:x:0:0:root:/root:/bin/bash",
                      "\(lambdaUser.name):x:\(lambdaUser.uid):\(lambdaUser.gid)::/home/\(lambdaUser.name):/sbin/nologin",
                      "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin"]
        var group = ["root:x:0:", "\(lambdaUser.name):x:\(lambdaUser.gid):", "nobody:x:65534:"]
        if ![0, lambdaUser.uid, 65534].contains(user.uid) {
            passwd.append("\(user.name):x:\(user.uid):\(user.gid)::/tmp:/sbin/nologin")
        }
        if ![0, lambdaUser.gid, 65534].contains(user.gid) { group.append("\(user.name):x:\(user.gid):") }
        func text(_ lines: [String]) -> [UInt8] { Array((lines.joined(separator: "\n") + "\n").utf8) }
        entries += networkFiles + [
            .file("etc/passwd", text(passwd), 0o644),
            .file("etc/group", text(group), 0o644),
            .file("etc/nsswitch.conf", text(["passwd: files", "group: files", "shadow: files", "hosts: files dns",
                                             "networks: files", "protocols: files", "services: files"]), 0o644),
            .link("etc/localtime", "/usr/share/zoneinfo/UTC"),
            .link("etc/os-release", "../usr/lib/os-release"),
            .link("etc/mtab", "../proc/self/mounts"),
            .link("etc/pki/tls/certs/ca-bundle.crt", "../../../ssl/certs/ca-certificates.crt"),
        ]
        // The resolver (pasta forwards DNS as the host resolves it), the loader's cache, TLS roots and settings.
        for (host, inside) in [("/etc/resolv.conf", "etc/resolv.conf"), ("/etc/ld.so.cache", "etc/ld.so.cache"),
                               ("/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-certificates.crt"),
                               ("/etc/ssl/openssl.cnf", "etc/ssl/openssl.cnf"), ("/etc/protocols", "etc/protocols"),
                               ("/etc/services", "etc/services"), ("/etc/mime.types", "etc/mime.types")] {
            if let bytes = hostFile(host) { entries.append(.file(inside, bytes, 0o644)) }
        }
        return entries + devices
    }

    /// /dev: what Lambda's has for a function (no /dev/shm, no pts).
    static var devices: [Entry] {
        [("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)].map {
            Entry.device("dev/" + $0.0, major: 1, minor: UInt32($0.1))
        } + [.device("dev/tty", major: 5, minor: 0), .link("dev/fd", "/proc/self/fd"),
             .link("dev/stdin", "/proc/self/fd/0"), .link("dev/stdout", "/proc/self/fd/1"),
             .link("dev/stderr", "/proc/self/fd/2")]
    }

    /// The environment's names: its hostname, and `sandbox.localdomain` at its own address.
    static var networkFiles: [Entry] {
        [.file("etc/hostname", Array("\(hostname)\n".utf8), 0o644),
         .file("etc/hosts", Array(("127.0.0.1 localhost localhost.localdomain\n::1 localhost localhost.localdomain\n"
                                   + "\(address) \(hostname).localdomain \(hostname)\n").utf8), 0o644)]
    }

    static func digest(of entries: [Entry]) -> String {
        let hash = fnv(Array((["layout 1"] + entries.map(\.describing)).joined(separator: "\n").utf8))
        return String(hash, radix: 16)
    }

    /// Writes the entries into a fresh folder beside `path` and renames it into place; another process that got
    /// there first wins, with the same content.
    static func build(_ entries: [Entry], at path: String) throws {
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o755)
        let staging = try ScratchFolder.make(base + "/.build", mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try write(entries, into: staging)
        if rename(staging, path) != 0 && errno != EEXIST && errno != ENOTEMPTY {
            throw SystemError("rename \(staging) to \(path)")
        }
    }

    /// Creates the entries under `folder` (parents listed before children; existing entries are left as they are).
    static func write(_ entries: [Entry], into folder: String) throws {
        umaskWhile(0) {
            for entry in entries {
                switch entry {
                case let .folder(p, mode):
                    mkdir(folder + "/" + p, mode)
                case let .file(p, bytes, mode):
                    let fd = open(folder + "/" + p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
                    if fd >= 0 {
                        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                        close(fd)
                    }
                case let .link(p, target):
                    symlink(target, folder + "/" + p)
                case let .device(p, major, minor):
                    mknod(folder + "/" + p, S_IFCHR | 0o666, makedev(major, minor))
                }
            }
        }
        for entry in entries {
            guard case let .device(p, _, _) = entry else { continue }
            var st = stat()
            guard stat(folder + "/" + p, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR else {
                throw SystemError("mknod \(folder)/\(p) (the environment's /dev)")
            }
        }
    }

    private static func umaskWhile(_ mask: mode_t, _ body: () -> Void) {
        let old = umask(mask)
        body()
        umask(old)
    }

    private static func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        dev_t((UInt64(major & 0xfff) << 8) | UInt64(minor & 0xff) | (UInt64(minor & ~0xff) << 12)
              | (UInt64(major & ~0xfff) << 32))
    }
}

/// A host folder bound read-only inside an environment, and CRIU's key for it (an external mount: the snapshot
/// records the key, every restore binds the folder it is given).
public struct SandboxMount: Codable, Sendable, Equatable {
    public var source: String
    public var target: String
    public var key: String { EnvironmentRoot.criuKey(for: target) }

    public init(source: String, target: String) {
        self.source = source
        self.target = target
    }
}

/// FNV-1a, 64 bits: a name for content, not a security digest.
func fnv(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf29ce484222325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
    return hash
}
#endif
