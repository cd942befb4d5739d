import Foundation
import Glibc
import SnapHarnessEngine
@testable import SnapHarnessTools
import Testing

/// `snapharness doctor` against the real machine: the checks, the real checkpoint/restore probe, the text and JSON
/// forms, the exit status of the command, and that a run leaves nothing running or on disk.
@Suite(.serialized)
struct DoctorTests {
    /// Everything snapharness (and CRIU on its behalf) may leave in /tmp, to prove doctor leaves none of it.
    static func tmpLeftovers() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        return Set(names.filter { $0.hasPrefix("snapharness-") })
    }

    static let knownIDs = ["criu", "libcriu", "kernel", "root", "capabilities", "pid-namespace", "mount-namespace",
                           "time-namespace", "nft", "pasta", "tmp-disk", "network-lock", "userfaultfd", "soft-dirty", "kdat-cache", "runtimes", "runtime-files",
                           "probe"]

    @Test func versionsBelow42AreRejected() {
        #expect(Doctor.isAtLeastMinimum("4.2.1"))
        #expect(Doctor.isAtLeastMinimum("4.2"))
        #expect(Doctor.isAtLeastMinimum("4.10.0"))
        #expect(Doctor.isAtLeastMinimum("5.0"))
        #expect(!Doctor.isAtLeastMinimum("4.1.1"))
        #expect(!Doctor.isAtLeastMinimum("3.17.1"))
        #expect(!Doctor.isAtLeastMinimum("4"))
        #expect(!Doctor.isAtLeastMinimum("garbage"))
    }

    @Test func capabilityMaskComesFromProcStatus() throws {
        let sample = "Name:\tx\nCapPrm:\t0000000000000000\nCapEff:\t000001fffeffffff\nCapBnd:\t0\n"
        let mask = try #require(Doctor.effectiveCapabilities(statusText: sample))
        #expect(mask & (1 << 21) != 0) // CAP_SYS_ADMIN
        #expect(mask & (1 << 24) == 0) // CAP_SYS_RESOURCE, absent on these machines
        #expect(Doctor.effectiveCapabilities(statusText: "Name:\tx\n") == nil)

        // The test process's own mask agrees with what doctor reports for it.
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let own = try #require(Doctor.effectiveCapabilities(statusText: status))
        let report = Doctor(environment: ["SNAPHARNESS_CRIU": "/nonexistent/criu", "PATH": "/nonexistent"]).run()
        let caps = try #require(report.check("capabilities"))
        #expect(caps.detail.contains(String(own, radix: 16)))
        #expect((caps.status == .missing) == (own & (1 << 21) == 0))
    }

    @Test func textPutsAFixUnderEveryNonOKLineAndJSONCarriesTheVerdict() throws {
        let report = DoctorReport(checks: [
            DoctorCheck(id: "a", title: "alpha", status: .ok, detail: "fine", fix: "never shown"),
            DoctorCheck(id: "b", title: "beta", status: .missing, detail: "gone\nsecond line", fix: "`make deps`"),
            DoctorCheck(id: "c", title: "gamma", status: .warn, detail: "meh", fix: "sysctl x=1"),
        ], probe: DoctorProbeResult(succeeded: false, error: "boom"))
        let lines = report.text.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("OK       alpha"))
        #expect(lines[1].hasPrefix("MISSING  beta") && lines[1].hasSuffix("gone"))
        #expect(lines[2].trimmingCharacters(in: .whitespaces) == "second line")
        #expect(lines[3].trimmingCharacters(in: .whitespaces) == "fix: `make deps`")
        #expect(lines[4].hasPrefix("WARN     gamma"))
        #expect(lines[5].trimmingCharacters(in: .whitespaces) == "fix: sysctl x=1")
        #expect(!report.text.contains("never shown"))
        #expect(report.check("a")?.fix == nil)

        let json = try report.json()
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["probeWorks"] as? Bool == false)
        let decoded = try JSONDecoder().decode(DoctorReport.self, from: json)
        #expect(decoded == report)
    }

    @Test(.enabled(if: TestEnvironment.canCheckpoint, TestEnvironment.skipReason))
    func criuFeatureCheckReportsCriusOwnWords() throws {
        let criu = try #require(TestEnvironment.criu)
        let unknown = Doctor.criuFeature("no_such_feature", criu: criu.binary)
        #expect(!unknown.supported)
        #expect(unknown.output.contains("Unknown feature"), "\(unknown.output)")
        let pidns = Doctor.criuFeature("ns_pid", criu: criu.binary)
        #expect(pidns.supported, "\(pidns.output)")
        #expect(pidns.output.contains("supported"))
    }

    @Test(.enabled(if: TestEnvironment.canCheckpoint, TestEnvironment.skipReason))
    func probeCheckpointsAndRestoresAndLeavesNothingBehind() throws {
        let before = HostFootprint.take()
        let tmpBefore = Self.tmpLeftovers()
        let report = Doctor().run()
        #expect(report.checks.map(\.id) == Self.knownIDs)
        #expect(report.probeWorks, "\(report.text)")
        let probe = report.probe
        let last = try #require(probe.checkpointedAt)
        #expect(last >= 3)
        #expect(probe.restoredFirst == last + 1)
        #expect((probe.dumpMilliseconds ?? 0) > 0 && (probe.restoreMilliseconds ?? 0) > 0)
        #expect(probe.error == nil)
        #expect(report.check("probe")?.status == .ok)
        #expect(report.check("root")?.status == .ok)
        #expect(report.check("criu")?.detail.contains(Criu.libraryVersion) == true)
        // The probe ran CRIU, so the cache the CRIU of `make deps` keeps must exist now.
        #expect(report.check("kdat-cache")?.status == .ok, "\(report.check("kdat-cache")!)")
        for check in report.checks where check.status != .ok {
            #expect(check.fix?.isEmpty == false, "\(check.id) is \(check.status.rawValue) but says no fix")
        }
        // Soft-dirty is informational: never MISSING, and when off it says what is lost.
        let softDirty = try #require(report.check("soft-dirty"))
        #expect(softDirty.status != .missing)
        if softDirty.status == .warn { #expect(softDirty.detail.contains("incremental pre-dump is unavailable")) }

        #expect(HostFootprint.take() == before, "doctor left something running or mounted")
        #expect(Self.tmpLeftovers() == tmpBefore, "doctor left files in /tmp")
    }

    @Test func brokenCriuIsMissingWithAFixAndTheProbeFails() throws {
        let before = HostFootprint.take()
        let tmpBefore = Self.tmpLeftovers()
        let report = Doctor(environment: ["SNAPHARNESS_CRIU": "/bin/false", "PATH": "/usr/bin:/bin"]).run()
        #expect(!report.probeWorks)
        let criu = try #require(report.check("criu"))
        #expect(criu.status == .missing)
        #expect(criu.detail.hasPrefix("/bin/false"))
        #expect(criu.fix?.contains("make deps") == true)
        #expect(report.check("network-lock")?.status == .warn, "informational: snapharness needs no network lock")
        #expect(report.check("probe")?.status == .missing)
        #expect(report.probe.error?.isEmpty == false)
        #expect(report.text.contains("cannot checkpoint and restore"))
        #expect(HostFootprint.take() == before, "doctor left something running or mounted")
        #expect(Self.tmpLeftovers() == tmpBefore, "doctor left files in /tmp")
    }

    static let binary = ProcessInfo.processInfo.environment["SNAPHARNESS_BIN"]

    /// Runs the built `snapharness` with extra environment; returns its exit status and stdout.
    static func runCommand(_ arguments: [String], extraEnvironment: [String: String] = [:]) throws -> (Int32, String) {
        _ = try #require(binary)
        let r = try CLI.run(arguments, environment: extraEnvironment)
        return (r.exitCode, r.stdout)
    }

    @Test(.enabled(if: binary != nil, "needs SNAPHARNESS_BIN (set by `make test`)"),
          .enabled(if: TestEnvironment.canCheckpoint, TestEnvironment.skipReason))
    func commandExitsZeroOnlyWhenTheProbeWorks() throws {
        let (status, output) = try Self.runCommand(["doctor", "--json"])
        #expect(status == 0, "\(output)")
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(output.utf8))
        #expect(report.probeWorks)
        #expect(report.checks.map(\.id) == Self.knownIDs)

        let (textStatus, text) = try Self.runCommand(["doctor"])
        #expect(textStatus == 0)
        #expect(text.contains("OK       probe"))

        let (badStatus, badText) = try Self.runCommand(["doctor"], extraEnvironment: ["SNAPHARNESS_CRIU": "/bin/false"])
        #expect(badStatus == 1, "\(badText)")
        #expect(badText.contains("MISSING  criu"))
        #expect(badText.contains("fix: `make deps`"))
    }
}
