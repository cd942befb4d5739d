#if os(Linux)
import Foundation
import Glibc

/// The user the function runs as. Lambda runs functions unprivileged as `sbx_user1051` (uid 993, gid 990); so does
/// snapharness by default (the environment's own /etc/passwd names it, the host needs no such user), while the
/// supervisor and CRIU keep root. `--user root` opts out (with a warning).
public struct FunctionUser: Codable, Sendable, Hashable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32

    public static let defaultName = "sbx_user1051"

    public var isRoot: Bool { uid == 0 }

    /// Resolves `--user NAME|UID` and `--group NAME|GID` (default: the user's primary group).
    /// nil user: $SNAPHARNESS_USER, else Lambda's sbx_user1051 (which the host need not have).
    public static func resolve(user: String?, group: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FunctionUser {
        let wanted = user ?? environment["SNAPHARNESS_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultName
        var result: FunctionUser
        if wanted == defaultName || wanted == String(EnvironmentRoot.lambdaUser.uid) {
            result = EnvironmentRoot.lambdaUser
        } else {
            guard let entry = wanted.withCString({ getpwnam($0) }) ?? UInt32(wanted).flatMap({ getpwuid($0) }) else {
                throw HarnessError.input("no user \"\(wanted)\" on this machine: pass --user with an existing user "
                                         + "(default \(defaultName)), or --user root to run the function as root")
            }
            result = FunctionUser(name: String(cString: entry.pointee.pw_name), uid: entry.pointee.pw_uid,
                                  gid: entry.pointee.pw_gid)
        }
        if let group {
            guard let g = group.withCString({ getgrnam($0) }) ?? UInt32(group).flatMap({ getgrgid($0) }) else {
                throw HarnessError.input("no group \"\(group)\" on this machine: pass --group with an existing group")
            }
            result.gid = g.pointee.gr_gid
        }
        return result
    }

    /// An image's USER (`name`, `uid`, `name:group` or `uid:gid`), names looked up in the image's own /etc/passwd
    /// and /etc/group, as a container runtime does.
    public static func fromImage(_ spec: String, rootfs: String) throws -> FunctionUser {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        func table(_ file: String) -> [[String]] {
            let text = (try? String(contentsOfFile: rootfs + "/etc/" + file, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        }
        let passwd = table("passwd")
        guard let userPart = parts.first else { throw HarnessError.input("the image's USER is empty") }
        var result: FunctionUser
        if let uid = UInt32(userPart) {
            let entry = passwd.first { $0.count > 3 && $0[2] == userPart }
            result = FunctionUser(name: entry?[0] ?? userPart, uid: uid, gid: entry.flatMap { UInt32($0[3]) } ?? uid)
        } else if let entry = passwd.first(where: { $0.count > 3 && $0[0] == userPart }),
                  let uid = UInt32(entry[2]), let gid = UInt32(entry[3]) {
            result = FunctionUser(name: userPart, uid: uid, gid: gid)
        } else {
            throw HarnessError.input("the image's USER \(spec) names a user its /etc/passwd does not have")
        }
        if parts.count == 2 {
            if let gid = UInt32(parts[1]) {
                result.gid = gid
            } else if let entry = table("group").first(where: { $0.count > 2 && $0[0] == parts[1] }), let gid = UInt32(entry[2]) {
                result.gid = gid
            } else {
                throw HarnessError.input("the image's USER \(spec) names a group its /etc/group does not have")
            }
        }
        return result
    }

    /// Whether this user may use `path` itself with `bits`, wherever it lives: a folder bind-mounted into the
    /// sandbox (/var/task, /var/lang) is reached through the mount, not through its host parents.
    public func canUse(_ path: String, bits: UInt16) -> Bool {
        if isRoot { return true }
        var st = stat()
        return stat(path, &st) == 0 && allows(st, bits)
    }

    private func allows(_ st: stat, _ bits: UInt16) -> Bool {
        let mode = UInt16(st.st_mode & 0o777)
        if st.st_uid == uid { return mode & (bits << 6) == bits << 6 }
        if st.st_gid == gid { return mode & (bits << 3) == bits << 3 }
        return mode & bits == bits
    }
}
#endif
