import Foundation
import Glibc
import Synchronization

/// A real TCP server on 127.0.0.1 for tests: accepts connections and counts the lines each one sends.
final class TCPServer: Sendable {
    let port: UInt16
    private let listenFD: Int32
    private let state = Mutex<(connections: Int, lines: Int, fds: [Int32])>((0, 0, []))

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { close(fd); throw POSIXError(.init(rawValue: errno)!) }
        listenFD = fd
        port = UInt16(bigEndian: addr.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var connections: Int { state.withLock { $0.connections } }
    var lines: Int { state.withLock { $0.lines } }

    private func acceptLoop() {
        while true {
            let c = accept(listenFD, nil, nil)
            if c < 0 { if errno == EINTR { continue } else { return } }
            state.withLock { $0.connections += 1; $0.fds.append(c) }
            Thread { [self] in
                var buf = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(c, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    let newlines = buf[0..<n].filter { $0 == 10 }.count
                    state.withLock { $0.lines += newlines }
                }
            }.start()
        }
    }

    /// Stops accepting and closes every connection (their reader threads then end).
    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        for fd in state.withLock({ $0.fds }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
