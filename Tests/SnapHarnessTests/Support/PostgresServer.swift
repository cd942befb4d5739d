import Foundation
import Glibc

/// A real PostgreSQL server for one test: Debian's binaries, a cluster made in a scratch folder (trust
/// authentication, no fsync), listening on a free port of 127.0.0.1 only, run as the `postgres` user and stopped
/// (immediately) and removed afterwards. `scripts/test-deps.sh` installs the binaries.
final class PostgresServer {
    let port: Int
    let folder: String
    private let bin: String

    /// Debian's newest PostgreSQL binaries, if installed, and the `postgres` user to run them as.
    static let binaries: String? = {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        let found = versions.map { "/usr/lib/postgresql/\($0)/bin" }.first { access($0 + "/initdb", X_OK) == 0 }
        return found.flatMap { getpwnam("postgres") == nil ? nil : $0 }
    }()

    static var available: Bool { binaries != nil && TestEnvironment.isRoot }

    init() throws {
        guard let bin = PostgresServer.binaries else { throw HarnessTestError("PostgreSQL is not installed") }
        self.bin = bin
        folder = TestEnvironment.scratchDirectory("pg")
        guard let user = getpwnam("postgres") else { throw HarnessTestError("no postgres user") }
        chown(folder, user.pointee.pw_uid, user.pointee.pw_gid)
        port = try PostgresServer.freePort()
        try run([bin + "/initdb", "-D", folder + "/data", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        try run([bin + "/pg_ctl", "-D", folder + "/data", "-w", "-t", "30", "-l", folder + "/server.log", "-o",
                 "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    }

    /// The libpq variables a function needs to reach this server.
    var environment: [String] {
        ["--env", "PGHOST=127.0.0.1", "--env", "PGPORT=\(port)", "--env", "PGUSER=postgres", "--env", "PGDATABASE=postgres",
         "--env", "PGCONNECT_TIMEOUT=5"]
    }

    func stop() {
        try? run([bin + "/pg_ctl", "-D", folder + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Runs as `postgres` through the shell, not Foundation's Process: Process learns that its child ended from a
    /// descriptor the child inherits, and the server pg_ctl starts keeps it, so `waitUntilExit` never returned.
    private func run(_ argv: [String]) throws {
        let output = folder + "/command.log"
        let quoted = argv.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = system("/usr/sbin/runuser -u postgres -- \(quoted) </dev/null >'\(output)' 2>&1")
        guard status == 0 else {
            let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let log = (try? String(contentsOfFile: folder + "/server.log", encoding: .utf8)) ?? ""
            throw HarnessTestError("\((argv[0] as NSString).lastPathComponent) failed (\(status)): \(said)\(log)")
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw HarnessTestError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

struct HarnessTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
