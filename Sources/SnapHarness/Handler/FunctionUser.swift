#if os(Linux)
import Foundation
import Glibc

/// The user the function runs as. Lambda runs functions unprivileged; so does snapharness by default (`nobody`),
/// while the supervisor and CRIU keep root. `--user root` opts out (with a warning).
public struct FunctionUser: Codable, Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32

    public static let defaultName = "nobody"

    public var isRoot: Bool { uid == 0 }

    /// Resolves `--user NAME|UID` and `--group NAME|GID` (default: the user's primary group).
    /// nil user: $SNAPHARNESS_USER, else `nobody`.
    public static func resolve(user: String?, group: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FunctionUser {
        let wanted = user ?? environment["SNAPHARNESS_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultName
        guard let entry = wanted.withCString({ getpwnam($0) }) ?? UInt32(wanted).flatMap({ getpwuid($0) }) else {
            throw HarnessError.input("no user \"\(wanted)\" on this machine: pass --user with an existing user "
                                     + "(default \(defaultName)), or --user root to run the function as root")
        }
        var result = FunctionUser(name: String(cString: entry.pointee.pw_name), uid: entry.pointee.pw_uid,
                                  gid: entry.pointee.pw_gid)
        if let group {
            guard let g = group.withCString({ getgrnam($0) }) ?? UInt32(group).flatMap({ getgrgid($0) }) else {
                throw HarnessError.input("no group \"\(group)\" on this machine: pass --group with an existing group")
            }
            result.gid = g.pointee.gr_gid
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
