import Foundation
@testable import SnapHarnessProtocol
import Testing

/// The control protocol's golden files (Tests/Fixtures/protocol), which the Python agent's constructors write and
/// its pytest suite reads back: every agent message decodes here with the fields it carries, and every supervisor
/// message is exactly what `SupervisorMessage` encodes. A change on one side that the other does not follow fails
/// one of the two suites.
struct ProtocolFixtureTests {
    static let folder = CLI.fixture("protocol")

    static func files(_ side: String) throws -> [(stem: String, text: String)] {
        let dir = folder + "/" + side
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".json") }.sorted().map {
            (String($0.dropLast(5)), try String(contentsOfFile: dir + "/" + $0, encoding: .utf8))
        }
    }

    static func object(_ text: String) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
    }

    /// The fields `AgentMessage` reads, by message type.
    static let agentFields: [String: Set<String>] = [
        "hello": ["type", "protocol", "phase", "pid"],
        "init_done": ["type", "beforeSnapshotHooks", "afterRestoreHooks", "parkedIn", "extensions"],
        "init_error": ["type", "error", "hint"], "before_snapshot_error": ["type", "error", "hint"],
        "after_restore_error": ["type", "error", "hint"],
        "snapshot_ready": ["type"], "restored": ["type"],
        "result": ["type", "requestId", "payload", "payloadBase64", "maxMemoryMB"],
        "error": ["type", "requestId", "error", "maxMemoryMB"],
        "facts": ["type", "randomState", "randomUsed", "randomDrawn", "randomDrawers", "numpyState", "numpyUsed",
                  "numpyDrawn", "numpyDrawers", "values", "cachedCredentials", "environmentCredentials", "hooks",
                  "clients", "openssl", "sslUsed", "connections"],
    ]

    @Test func constantsAreTheSameOnBothSides() throws {
        let constants = try Self.object(try String(contentsOfFile: Self.folder + "/constants.json", encoding: .utf8))
        #expect(constants["version"] as? Int == ControlProtocol.version)
        #expect(constants["endMark"] as? String == ControlProtocol.endMark)
        #expect(constants["exitSignalMark"] as? String == ControlProtocol.exitSignalMark)
    }

    @Test func everyAgentMessageDecodesWithItsFields() throws {
        let files = try Self.files("agent")
        let types = Set(files.map { $0.stem.split(separator: "-")[0] })
        #expect(types == ["hello", "init_done", "init_error", "snapshot_ready", "before_snapshot_error", "restored",
                          "after_restore_error", "result", "error", "facts"], "one file at least for every message")
        for (stem, text) in files {
            #expect(text.hasSuffix("\n") && text.dropLast().firstIndex(of: "\n") == nil, "\(stem): one line of the channel")
            let wire = try Self.object(text)
            // A field Swift does not read is a field renamed or added on one side only.
            let known = Self.agentFields[wire["type"] as? String ?? ""] ?? []
            #expect(Set(wire.allKeys.compactMap { $0 as? String }).subtracting(known).isEmpty,
                    "\(stem): fields Swift does not read: \(Set(wire.allKeys.compactMap { $0 as? String }).subtracting(known))")
            let message = try AgentMessage.decode(Array(text.utf8.dropLast()))
            #expect(message.type == wire["type"] as? String, "\(stem)")
            switch message {
            case .hello(let m):
                #expect(m.protocol == ControlProtocol.version && m.phase?.rawValue == wire["phase"] as? String && m.pid == 2)
            case .initDone(let m):
                #expect(m.beforeSnapshotHooks == (wire["beforeSnapshotHooks"] as? [String] ?? []), "\(stem)")
                #expect(m.afterRestoreHooks == (wire["afterRestoreHooks"] as? [String] ?? []), "\(stem)")
                #expect(m.parkedIn == wire["parkedIn"] as? String, "\(stem)")
                // Every extension, every field: each decoded one encodes back to what the agent sent.
                let sent = wire["extensions"] as? [NSDictionary] ?? []
                #expect(m.extensions.count == sent.count, "\(stem)")
                for (decoded, original) in zip(m.extensions, sent) {
                    let again = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(decoded)) as? NSDictionary
                    #expect(again == original, "\(stem): \(decoded) from \(original)")
                }
            case .initError(let f), .beforeSnapshotError(let f), .afterRestoreError(let f):
                let error = try #require(wire["error"] as? NSDictionary)
                #expect(f.error.errorType == error["errorType"] as? String && f.error.errorType != "Runtime.Unknown")
                #expect(f.error.errorMessage == error["errorMessage"] as? String)
                #expect(f.error.stackTrace == error["stackTrace"] as? [String])
                #expect(f.hint == wire["hint"] as? String, "\(stem)")
            case .result(let r):
                #expect(r.requestId == wire["requestId"] as? String && r.maxMemoryMB == wire["maxMemoryMB"] as? Int)
                if let payload = wire["payload"] as? String {
                    #expect(r.text == payload && r.byteCount == payload.utf8.count)
                } else {
                    let encoded = try #require(wire["payloadBase64"] as? String)
                    let raw = try #require(Data(base64Encoded: encoded))
                    #expect(r.byteCount == raw.count && r.byteCount > 0, "\(stem)")
                }
            case .error(let e):
                #expect(e.requestId == wire["requestId"] as? String && e.error.requestId == e.requestId)
                #expect(e.error.errorType == (wire["error"] as? NSDictionary)?["errorType"] as? String)
            case .facts(let facts):
                #expect(facts.values.map(\.path) == (wire["values"] as? [NSDictionary])?.compactMap { $0["path"] as? String })
                #expect(facts.cachedCredentials == wire["cachedCredentials"] as? [String])
                #expect(facts.randomState == wire["randomState"] as? String && facts.randomState != nil)
                #expect(facts.hooks.afterRestore == (wire["hooks"] as? NSDictionary)?["afterRestore"] as? [String])
                #expect(facts.connections?.count == (wire["connections"] as? [Any])?.count)
                #expect(facts.openssl == wire["openssl"] as? [String: String])
            case .snapshotReady, .restored:
                #expect(wire.count == 1, "\(stem) carries its type only")
            }
        }
    }

    /// Each supervisor file is rebuilt from its own fields as a `SupervisorMessage`, whose encoding must be the file.
    @Test func everySupervisorMessageIsWhatSwiftEncodes() throws {
        let files = try Self.files("supervisor")
        #expect(Set(files.map { $0.stem.split(separator: "-")[0] }) == ["before_snapshot", "after_restore", "invoke",
                                                                         "inspect", "shutdown"])
        for (stem, text) in files {
            let wire = try Self.object(text)
            let message: SupervisorMessage
            switch wire["type"] as? String {
            case "before_snapshot": message = .beforeSnapshot
            case "after_restore": message = .afterRestore(environment: wire["environment"] as? [String: String])
            case "inspect": message = .inspect
            case "shutdown": message = .shutdown
            case "invoke":
                message = .invoke(.init(
                    requestId: try #require(wire["requestId"] as? String), event: try #require(wire["event"] as? String),
                    deadlineMs: try #require((wire["deadlineMs"] as? NSNumber)?.int64Value),
                    invokedFunctionArn: try #require(wire["invokedFunctionArn"] as? String),
                    traceId: wire["traceId"] as? String, clientContext: wire["clientContext"] as? String))
            case let other: Issue.record("\(stem): unknown supervisor message \(other ?? "without a type")"); continue
            }
            let line = message.line
            #expect(line.last == UInt8(ascii: "\n") && line.dropLast().firstIndex(of: UInt8(ascii: "\n")) == nil)
            let encoded = try Self.object(String(decoding: line, as: UTF8.self))
            #expect(encoded == wire, "\(stem): Swift encodes \(encoded), the file holds \(wire)")
        }
    }
}
