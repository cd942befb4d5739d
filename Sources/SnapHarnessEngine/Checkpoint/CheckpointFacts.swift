#if os(Linux)
import Foundation
import SnapHarnessProtocol

/// What the supervisor sees of the parked function right before the checkpoint (`check`: a connection or a file the
/// snapshot will hold in every copy).
public struct CheckpointFacts: Codable, Sendable {
    public var tcpConnections: [String] = []
    public var tmpFiles: [String] = []

    public init(tcpConnections: [String] = [], tmpFiles: [String] = []) {
        self.tcpConnections = tcpConnections
        self.tmpFiles = tmpFiles
    }
}

/// What an inspected snapshot saw of its function (`Lifecycle.snapshot(..., inspect: true)`): the inspector's facts
/// at the end of Init, before the before-snapshot hooks, and the parked process tree right before the dump.
public struct SnapshotInspection: Sendable {
    public var initFacts: FunctionFacts?
    public var checkpoint = CheckpointFacts()

    public init(initFacts: FunctionFacts? = nil, checkpoint: CheckpointFacts = CheckpointFacts()) {
        self.initFacts = initFacts
        self.checkpoint = checkpoint
    }
}

/// Reads, from the host, what a (parked) function process holds: its TCP connections and its private /tmp.
enum ProcessInventory {
    /// Established TCP connections of the environment whose root is `pid` (it and its descendants), as
    /// "local -> peer". A connection with both ends in the environment (a runtime's connection to the in-tree Runtime
    /// API) is the environment's own: it survives the restore and is left out.
    static func establishedTCP(pid: Int32) -> [String] {
        var inodes: Set<String> = []
        for member in [pid] + ProcFile.descendants(of: pid) {
            let fdDir = "/proc/\(member)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + fd),
                   target.hasPrefix("socket:[") {
                    inodes.insert(String(target.dropFirst(8).dropLast()))
                }
            }
        }
        var rows: [(local: String, peer: String, v6: Bool)] = []
        for (file, v6) in [("tcp", false), ("tcp6", true)] {
            guard let table = ProcFile.read("/proc/\(pid)/net/\(file)") else { continue }
            for line in table.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
                guard f.count > 9, f[3] == "01", inodes.contains(String(f[9])) else { continue }
                rows.append((String(f[1]), String(f[2]), v6))
            }
        }
        let ends = Set(rows.map { "\($0.local)>\($0.peer)" })
        return rows.filter { !ends.contains("\($0.peer)>\($0.local)") }
            .map { "\(address($0.local, v6: $0.v6)) -> \(address($0.peer, v6: $0.v6))" }
    }

    /// "0100007F:1F90" -> "127.0.0.1:8080" (IPv6 shown as hex words).
    static func address(_ hex: String, v6: Bool) -> String {
        let parts = hex.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return hex }
        let ip = String(parts[0])
        if !v6, let n = UInt32(ip, radix: 16) {
            return "\(n & 0xff).\((n >> 8) & 0xff).\((n >> 16) & 0xff).\(n >> 24):\(port)"
        }
        if ip == "0000000000000000FFFF00000100007F" { return "[::ffff:127.0.0.1]:\(port)" }
        if ip == "00000000000000000000000001000000" { return "[::1]:\(port)" }
        return "[\(ip)]:\(port)"
    }

    /// Regular files in the function's private /tmp, with sizes.
    static func tmpFiles(pid: Int32) -> [String] {
        let root = "/proc/\(pid)/root"
        var found: [String] = []
        let fm = FileManager.default
        func visit(_ path: String, depth: Int) {
            guard depth < 8, found.count < 100 else { return }
            for name in ((try? fm.contentsOfDirectory(atPath: root + path)) ?? []).sorted() {
                let inside = path + "/" + name
                var isDir: ObjCBool = false
                guard fm.fileExists(atPath: root + inside, isDirectory: &isDir) else { continue }
                if isDir.boolValue {
                    visit(inside, depth: depth + 1)
                } else {
                    let size = (try? fm.attributesOfItem(atPath: root + inside)[.size] as? Int) ?? 0
                    found.append("\(inside) (\(size) bytes)")
                }
            }
        }
        visit("/tmp", depth: 0)
        return found
    }
}
#endif
