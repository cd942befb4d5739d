#if os(Linux)
import CCriu
import CSandbox
import Foundation
import Glibc
import Synchronization

/// The CRIU this harness drives through libcriu: the `criu` binary libcriu starts as `criu swrk` for each call.
public struct Criu: Sendable {
    /// The criu binary (libcriu runs it as its service).
    public let binary: String

    /// Where the CRIU that `make deps` builds keeps its kernel-feature cache: CRIU only keeps the cache on tmpfs,
    /// and /run is not tmpfs on these machines. Without it every call probes the kernel again (~20 ms).
    public static let kernelFeatureCacheDir = "/dev/shm/snapharness-criu"

    /// The libcriu headers this build was compiled against.
    public static let libraryVersion = CRIU_VERSION

    /// Finds criu: $SNAPHARNESS_CRIU, else the one `make deps` built for this installation, else `criu` on PATH.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Criu {
        var candidates: [String] = []
        if let fromEnv = environment["SNAPHARNESS_CRIU"], !fromEnv.isEmpty { candidates.append(fromEnv) }
        if let installation = Installation.locate(environment: environment) {
            candidates.append(installation.criuPrefix + "/sbin/criu")
        }
        for dir in (environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":") {
            candidates.append("\(dir)/criu")
        }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw CriuError(operation: "setup", message:
                "no criu binary found (tried \(candidates.prefix(3).joined(separator: ", "))...). Run `make deps` "
                + "to build CRIU >= 4.2, or set SNAPHARNESS_CRIU=/path/to/criu")
        }
        return Criu(binary: found)
    }

    public init(binary: String) {
        self.binary = binary
        Criu.prepareKernelFeatureCache()
        PerfSchedKey.hold()
        CriuYards.sweepOnce()
    }

    static func prepareKernelFeatureCache() {
        let dir = kernelFeatureCacheDir
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { return }
        // A stale empty tmp file from a killed criu blocks the cache forever.
        var st = stat()
        if stat(dir + "/criu.kdat.tmp", &st) == 0 && st.st_size == 0 && time(nil) - st.st_mtim.tv_sec > 60 {
            unlink(dir + "/criu.kdat.tmp")
        }
    }

    private static let versions = Mutex<[String: String]>([:])

    /// `serviceVersion()`, asked once per binary and process (each ask starts a `criu swrk`).
    public func cachedServiceVersion() throws -> String {
        if let known = Criu.versions.withLock({ $0[binary] }) { return known }
        let v = try serviceVersion()
        Criu.versions.withLock { $0[binary] = v }
        return v
    }

    /// The version the criu binary reports over RPC, e.g. "4.2.1".
    public func serviceVersion() throws -> String {
        let opts = try CriuOptions(binary: binary)
        let v = criu_local_get_version(opts.raw)
        guard v > 0 else { throw CriuError(operation: "version", message: "criu swrk did not answer (\(v))") }
        return "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }
}

/// One libcriu options object: owned by one call, freed with it (libcriu's global API is not safe to share).
final class CriuOptions {
    let raw: OpaquePointer

    init(binary: String) throws {
        var opts: OpaquePointer?
        guard criu_local_init_opts(&opts) == 0, let opts else {
            throw CriuError(operation: "setup", message: "criu_local_init_opts failed (out of memory?)")
        }
        raw = opts
        guard criu_local_set_service_binary(raw, binary) == 0 else {
            throw CriuError(operation: "setup", message: "criu_local_set_service_binary(\(binary)) failed")
        }
    }

    deinit { criu_local_free_opts(raw) }

    /// Options every dump and restore of a sandbox shares: TCP connections to the outside end up closed (Lambda's
    /// stale-connection behaviour): with tcp-close, or, for a tree holding its own Runtime API connections,
    /// established (those must survive) with the outside ones destroyed after the restore (`Criu.restore`).
    /// No network lock: each environment has a network namespace of its own, so nothing outside can talk to the tree
    /// while it is dumped; the lock would only cost every restore ~10 ms of nftables work (measured by
    /// `snapharness bench`) and leave a table behind when a dump is never restored.
    func applyCommon(logFile: String, logLevel: Int32, tcpEstablished: Bool = false) throws {
        criu_local_set_log_level(raw, logLevel)
        guard criu_local_set_log_file(raw, logFile) == 0 else {
            throw CriuError(operation: "setup", message: "criu_local_set_log_file failed")
        }
        if tcpEstablished {
            criu_local_set_tcp_established(raw, true)
        } else {
            criu_local_set_tcp_close(raw, true)
        }
        // Each environment's cgroup is the harness's business: a restore lands in the cgroup of the thread that
        // started it (see EnvironmentCgroup), never in the Init's, which is gone by then.
        criu_local_set_manage_cgroups_mode(raw, CRIU_CG_MODE_IGNORE)
        criu_local_set_file_locks(raw, true)
        _ = criu_local_set_network_lock(raw, CRIU_NETWORK_LOCK_SKIP)
    }
}
#endif
