#if os(Linux)
import Foundation
import SnapHarnessEngine
import Glibc

/// How one doctor item came out. Three words, so a user scanning the output (or a script reading the JSON) sees at
/// once what works, what is absent, and what works with a caveat.
public enum DoctorStatus: String, Codable, Sendable, Equatable {
    /// Present and usable.
    case ok = "OK"
    /// Absent: the harness (or the feature named) cannot work until the `fix` is applied.
    case missing = "MISSING"
    /// Works, or is only informational, but something is off (a slower path, an optional feature unavailable).
    case warn = "WARN"
}

/// One line of `snapharness doctor`: what was looked at, what was found and, whenever it is not OK, the exact
/// command or setting that fixes it. Users meet doctor when something is broken, so every non-OK line must say
/// what to do next rather than merely what is wrong.
public struct DoctorCheck: Codable, Sendable, Equatable {
    /// Stable identifier for scripts and tests ("criu", "time-namespace", "probe", ...).
    public var id: String
    /// Human label printed in the text output.
    public var title: String
    public var status: DoctorStatus
    /// What was found (paths, versions, CRIU's own words).
    public var detail: String
    /// The command or setting that fixes a non-OK item; nil when OK.
    public var fix: String?

    public init(id: String, title: String, status: DoctorStatus, detail: String, fix: String? = nil) {
        self.id = id
        self.title = title
        self.status = status
        self.detail = detail
        self.fix = status == .ok ? nil : fix
    }
}

/// The outcome of doctor's real checkpoint and restore of a tiny counting shell. Kernel feature lists can look
/// perfect while a dump still fails (a seccomp profile, a missing mount, a CRIU bug on this kernel), so this is
/// the only item that decides doctor's exit code.
public struct DoctorProbeResult: Codable, Sendable, Equatable {
    public var succeeded: Bool
    /// The last number the original process printed before CRIU dumped it.
    public var checkpointedAt: Int?
    /// The first number the restored copy printed; must be `checkpointedAt + 1` (it resumed the dumped state).
    public var restoredFirst: Int?
    /// libcriu's dump call alone, in milliseconds.
    public var dumpMilliseconds: Double?
    /// From the restore call until the copy runs, in milliseconds.
    public var restoreMilliseconds: Double?
    /// Size of the CRIU images.
    public var imageBytes: UInt64?
    /// Why the probe failed (CriuError carries CRIU's `Error (...)` log lines).
    public var error: String?

    public init(succeeded: Bool, checkpointedAt: Int? = nil, restoredFirst: Int? = nil,
                dumpMilliseconds: Double? = nil, restoreMilliseconds: Double? = nil, imageBytes: UInt64? = nil,
                error: String? = nil) {
        self.succeeded = succeeded
        self.checkpointedAt = checkpointedAt
        self.restoredFirst = restoredFirst
        self.dumpMilliseconds = dumpMilliseconds
        self.restoreMilliseconds = restoreMilliseconds
        self.imageBytes = imageBytes
        self.error = error
    }

    /// The probe as a doctor line.
    var check: DoctorCheck {
        if succeeded {
            return DoctorCheck(id: "probe", title: "probe", status: .ok, detail:
                "checkpoint+restore of a counting shell works: dumped at \(checkpointedAt ?? -1), restored copy "
                + "continued with \(restoredFirst ?? -1); dump \(Self.ms(dumpMilliseconds)), restore "
                + "\(Self.ms(restoreMilliseconds)), image \((imageBytes ?? 0) / 1024) KiB")
        }
        return DoctorCheck(id: "probe", title: "probe", status: .missing,
                           detail: "checkpoint+restore does not work here: " + (error ?? "unknown error"),
                           fix: "fix the MISSING items above (as root: `make deps`, then `sudo snapharness doctor`); "
                               + "the CRIU reasons above name the failing kernel feature or file")
    }

    static func ms(_ value: Double?) -> String {
        guard let value else { return "?" }
        return String(format: "%.1f ms", value)
    }
}

/// Everything doctor found, in print order, plus the probe in structured form. Kept as plain data so the command
/// can print it as text or JSON and tests can inspect it without parsing output.
public struct DoctorReport: Codable, Sendable, Equatable {
    public var checks: [DoctorCheck]
    public var probe: DoctorProbeResult

    public init(checks: [DoctorCheck], probe: DoctorProbeResult) {
        self.checks = checks
        self.probe = probe
    }

    /// Doctor passes exactly when a real checkpoint and restore worked.
    public var probeWorks: Bool { probe.succeeded }

    public func check(_ id: String) -> DoctorCheck? { checks.first { $0.id == id } }

    /// One line per item (`STATUS  title  detail`), a `fix:` line under every non-OK item, then a verdict.
    public var text: String {
        let width = max(16, (checks.map(\.title.count).max() ?? 0) + 2)
        var lines: [String] = []
        for c in checks {
            let status = c.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
            let title = c.title.padding(toLength: width, withPad: " ", startingAt: 0)
            let detail = c.detail.split(separator: "\n", omittingEmptySubsequences: false)
            lines.append(status + title + (detail.first.map(String.init) ?? ""))
            let indent = String(repeating: " ", count: 9 + width)
            lines += detail.dropFirst().map { indent + $0 }
            if let fix = c.fix { lines.append(indent + "fix: " + fix) }
        }
        lines.append(probeWorks
            ? "snapharness can checkpoint and restore on this machine."
            : "snapharness cannot checkpoint and restore on this machine (see the probe line).")
        return lines.joined(separator: "\n")
    }

    /// Pretty, key-sorted JSON with `probeWorks` spelled out for scripts.
    public func json() throws -> Data {
        struct Wire: Encodable {
            let probeWorks: Bool
            let checks: [DoctorCheck]
            let probe: DoctorProbeResult
        }
        return try JSONValue.prettyData(Wire(probeWorks: probeWorks, checks: checks, probe: probe))
    }
}

extension Doctor {
    /// The counting shell the probe checkpoints: stateful (its counter lives only in its memory), with a child
    /// (`sleep`) and stdout pipes, the same shape as a real function process. Its working directory is `/`:
    /// an inherited one under /tmp or /dev/shm is hidden by the sandbox's private tmpfs and CRIU refuses to dump
    /// it ("Can't create link remap"), which would make doctor fail or pass depending on where it was started.
    public static let probeSpec = SandboxSpec(
        executable: "/bin/sh", arguments: ["-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done"],
        workingDirectory: "/")

    /// Spawns the counting shell in the sandbox, checkpoints it once it has printed a few numbers, restores the
    /// snapshot and checks the copy continues at the next number. Kills everything it started and deletes its
    /// temporary directory whatever happens; only a failed CRIU call keeps its log (its path is in `error`).
    public static func probe(criu: Criu, timeout: Double = 10) -> DoctorProbeResult {
        var result = DoctorProbeResult(succeeded: false)
        var template = Array("/tmp/snapharness-doctor-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            result.error = String(describing: SystemError("mkdtemp /tmp/snapharness-doctor-XXXXXX"))
            return result
        }
        let scratch = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var started: [SandboxedProcess] = []
        defer { started.forEach { $0.terminate() } }
        do {
            let original = LineCollector()
            let process = try SandboxedProcess.spawn(probeSpec) { kind, line in
                if kind == .stdout { original.append(line) }
            }
            started.append(process)
            guard original.wait(timeout: timeout, until: { $0.count >= 3 }) else {
                throw DoctorProbeError(description: "the probe shell printed \(original.all.count) lines in \(timeout) s "
                                       + "(expected 3); stdout: \(original.all)")
            }
            let manifest = try criu.checkpoint(process, to: SnapshotDirectory(path: scratch + "/snap"))
            result.dumpMilliseconds = rounded(manifest.dumpSeconds * 1000)
            result.imageBytes = manifest.imageBytes
            guard let last = original.all.compactMap({ Int($0) }).last else {
                throw DoctorProbeError(description: "the probe shell printed no number: \(original.all)")
            }
            result.checkpointedAt = last

            let restored = LineCollector()
            let t0 = Clock.now
            let copy = try criu.restore(SnapshotDirectory(path: scratch + "/snap")) { kind, line in
                if kind == .stdout { restored.append(line) }
            }
            result.restoreMilliseconds = rounded((Clock.now - t0) * 1000)
            started.append(copy)
            guard restored.wait(timeout: timeout, until: { !$0.isEmpty }), let first = restored.all.first else {
                let status = copy.process.poll().map { "it ended: \($0)" } ?? "it is still running"
                throw DoctorProbeError(description: "the restored copy printed nothing in \(timeout) s (\(status))")
            }
            result.restoredFirst = Int(first)
            guard Int(first) == last + 1 else {
                throw DoctorProbeError(description: "the restored copy printed \"\(first)\" first, expected \(last + 1): "
                                       + "it did not continue the checkpointed state")
            }
            result.succeeded = true
        } catch {
            result.error = String(describing: error)
        }
        return result
    }

    static func rounded(_ ms: Double) -> Double { (ms * 10).rounded() / 10 }
}

/// Why doctor's probe failed when neither CRIU nor the sandbox threw: the process misbehaved around the snapshot.
struct DoctorProbeError: Error, CustomStringConvertible {
    let description: String
}
#endif
