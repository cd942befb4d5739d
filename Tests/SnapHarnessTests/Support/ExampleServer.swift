import Foundation
import Glibc

/// An example's stand-in server (`Examples/.../server.py`), run with the system's Python on a free port of
/// 127.0.0.1 for one test, as the example's README tells a user to start it.
final class ExampleServer {
    let port: Int
    private let process = Process()

    init(_ script: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, "0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var said = Data()
        while !said.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said.append(chunk)
        }
        guard let port = Int(String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw HarnessTestError("\(script) did not print its port (got \(String(decoding: said, as: UTF8.self)))")
        }
        self.port = port
    }

    /// SIGKILL: the test process blocks SIGTERM in its threads, and a child spawned from one inherits the mask.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
