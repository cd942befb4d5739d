#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// A local stand-in for Lambda's container-credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` +
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, the format botocore's container provider reads). It hands out clearly fake,
/// short-lived credentials, and a new token (and so new credentials) to every restored copy, as Lambda rotates them
/// on restore: a function that cached credentials during Init sees them go stale exactly as it would on Lambda.
/// Nothing real is ever served; it listens on 127.0.0.1 only.
public final class ContainerCredentialsServer: @unchecked Sendable {
    public let port: UInt16
    public let ttl: Double
    private let listenFD: Int32
    private let tokens = Mutex<[String: Grant]>([:])

    struct Grant {
        var label: String
        var issued: Date
        var accessKeyId: String
        var revoked = false
        var fetches = 0
    }

    public init(ttl: Double = 900) throws {
        self.ttl = ttl
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 64) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { let e = SystemError("bind 127.0.0.1"); Glibc.close(fd); throw e }
        listenFD = fd
        port = UInt16(bigEndian: addr.sin_port)
        let thread = Thread { [self] in serve() }
        thread.name = "snapharness-credentials"
        thread.start()
    }

    public var uri: String { "http://127.0.0.1:\(port)/2018-06-01/credentials" }

    /// A new token for one environment (Init, or one restored copy); its credentials expire `ttl` after now.
    public func issueToken(label: String) -> String {
        let token = "snapharness-" + UUID().uuidString.lowercased()
        let key = "ASIAFAKE" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).uppercased()
        tokens.withLock { $0[token] = Grant(label: label, issued: Date(), accessKeyId: key) }
        return token
    }

    /// The environment a function needs to reach us with `token`.
    public func environment(token: String) -> [String: String] {
        ["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN": token]
    }

    /// Rotated away: later requests with it are refused (403), as with a stale Lambda token.
    public func revoke(_ token: String) { tokens.withLock { $0[token]?.revoked = true } }

    /// How many times credentials were fetched with `token`.
    public func fetches(_ token: String) -> Int { tokens.withLock { $0[token]?.fetches ?? 0 } }

    /// The access key id issued under `token` (for reports and tests).
    public func accessKeyId(_ token: String) -> String? { tokens.withLock { $0[token]?.accessKeyId } }

    public func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        Glibc.close(listenFD)
    }

    // MARK: - HTTP

    private func serve() {
        while true {
            let conn = accept(listenFD, nil, nil)
            if conn < 0 { if errno == EINTR { continue }; return }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handle(conn)
            Glibc.close(conn)
        }
    }

    private func handle(_ conn: Int32) {
        var request: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let n = buf.withUnsafeMutableBytes { read(conn, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            request.append(contentsOf: buf[0..<n])
            if String(decoding: request, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let text = String(decoding: request, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let auth = lines.dropFirst().first { $0.lowercased().hasPrefix("authorization:") }
            .map { String($0.dropFirst("authorization:".count)).trimmingCharacters(in: .whitespaces) }
        let (status, body) = respond(requestLine: lines.first ?? "", token: auth)
        let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
        try? FD.writeAll(conn, Array(response.utf8))
    }

    func respond(requestLine: String, token: String?) -> (String, String) {
        guard requestLine.hasPrefix("GET ") else { return ("405 Method Not Allowed", #"{"message":"GET only"}"#) }
        guard let token else { return ("401 Unauthorized", #"{"message":"missing Authorization header"}"#) }
        let grant: Grant? = tokens.withLock { all in
            guard var g = all[token], !g.revoked else { return nil }
            g.fetches += 1
            all[token] = g
            return g
        }
        guard let grant else { return ("403 Forbidden", #"{"message":"invalid or rotated token"}"#) }
        let f = ISO8601DateFormatter()
        let body = """
        {"AccessKeyId":"\(grant.accessKeyId)","SecretAccessKey":"snapharness-fake-secret-\(grant.label)",\
        "Token":"snapharness-fake-session-\(grant.label)","Expiration":"\(f.string(from: grant.issued.addingTimeInterval(ttl)))"}
        """
        return ("200 OK", body)
    }
}
#endif
