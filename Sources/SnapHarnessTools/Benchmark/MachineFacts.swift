#if os(Linux)
import Foundation
import SnapHarnessEngine
import Glibc

/// What a benchmark result depends on, kept next to the samples so numbers from two machines are never compared
/// blindly: cores, kernel, CRIU, where the images live (tmpfs or disk) and the memory settings that change restore
/// cost.
public struct MachineFacts: Codable, Sendable {
    public var cores: Int
    public var cpuModel: String?
    public var memoryMiB: Int?
    public var kernel: String
    public var criuBinary: String
    public var criuVersion: String?
    public var libcriuVersion: String
    /// CRIU's kernel-feature cache is in place (without it every CRIU call probes the kernel again, ~20 ms).
    public var criuKernelFeatureCache: Bool
    public var python: String
    public var pythonVersion: String?
    /// Folder holding the images and work files of the run, and its file system ("tmpfs", "ext4", ...).
    public var imagesDirectory: String
    public var imagesFileSystem: String
    public var imagesOnTmpfs: Bool
    public var userfaultfd: Bool
    public var transparentHugePages: String?
    public var swiftBuild: String

    /// Collects the facts; nothing here fails (an unknown fact is nil or "unknown").
    public static func collect(criu: Criu, python: String, imagesDirectory: String) -> MachineFacts {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let fs = fileSystemName(of: imagesDirectory)
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return MachineFacts(
            cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            cpuModel: ProcFile.read("/proc/cpuinfo").flatMap { text in
                text.split(separator: "\n").first { $0.hasPrefix("model name") }
                    .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) }
            },
            memoryMiB: ProcFile.read("/proc/meminfo").flatMap { text in
                text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
                    .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
                    .map { $0 / 1024 }
            },
            kernel: "\(release) \(machine)",
            criuBinary: criu.binary,
            criuVersion: try? criu.serviceVersion(),
            libcriuVersion: Criu.libraryVersion,
            criuKernelFeatureCache: access(Criu.kernelFeatureCacheDir + "/criu.kdat", F_OK) == 0,
            python: python,
            pythonVersion: pythonVersion(python),
            imagesDirectory: imagesDirectory,
            imagesFileSystem: fs,
            imagesOnTmpfs: fs == "tmpfs",
            userfaultfd: LazyPages.userfaultfdAvailable(),
            transparentHugePages: ProcFile.read("/sys/kernel/mm/transparent_hugepage/enabled")?
                .trimmingCharacters(in: .whitespacesAndNewlines),
            swiftBuild: build)
    }

    /// The file system type of `path`: the type of the deepest mount containing it, from /proc/self/mountinfo.
    public static func fileSystemName(of path: String) -> String {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var best = (length: -1, type: "unknown")
        for line in (ProcFile.read("/proc/self/mountinfo") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountPoint = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
            let inside = mountPoint == "/" || resolved == mountPoint || resolved.hasPrefix(mountPoint + "/")
            if inside && mountPoint.count >= best.length { best = (mountPoint.count, String(fields[dash + 1])) }
        }
        return best.type
    }

    /// userfaultfd is usable: the /dev/userfaultfd node, or the syscall (the vm.unprivileged_userfaultfd knob
    /// exists only when the kernel has it) for root.

    static func pythonVersion(_ python: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
#endif
