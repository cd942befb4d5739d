#if os(Linux)
import CCriu
import Foundation
import Glibc

extension Criu {
    /// Checkpoints a sandboxed process tree (the namespace's pid 1 and everything under it) into `snapshot`.
    ///
    /// CRIU kills the tree once its images are written, so `process` has ended when this returns. The snapshot is
    /// written under a temporary sibling name and renamed into place last; on failure nothing is left at `snapshot`
    /// (an existing good snapshot there is untouched), CRIU thaws the tree, and the caller decides its fate.
    @discardableResult
    /// The process's binds (its `mounts`: the root's system folders, Lambda's folders) are CRIU external mounts: the
    /// snapshot records their keys, a restore provides the folders. `copies`: name -> host folder copied into the snapshot (the function's code, its layers) before it is sealed;
    /// `storage`: the tree's /tmp disk, moved into the snapshot once the tree is gone.
    public func checkpoint(_ process: SandboxedProcess, to snapshot: SnapshotDirectory,
                           function: FunctionManifest? = nil, copies: [String: String] = [:], network: EnvironmentNetwork? = nil,
                           tcpEstablished: Bool = false, storage: EphemeralStorage? = nil) throws -> SnapshotManifest {
        let fm = FileManager.default
        if fm.fileExists(atPath: snapshot.path) && !snapshot.looksLikeSnapshot {
            throw SnapshotError.outputExists(snapshot.path)
        }
        let parent = (snapshot.path as NSString).deletingLastPathComponent
        guard fm.fileExists(atPath: parent) else {
            throw SnapshotError.notFound(parent + " (the parent folder of the snapshot)")
        }
        let refused = Uncheckpointable.find(in: process.pid)
        guard refused.isEmpty else {
            throw CriuError(operation: "dump of pid \(process.pid)",
                            message: refused.joined(separator: "; ") + ". " + Uncheckpointable.fix)
        }
        let staging = SnapshotDirectory(path: snapshot.path + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard mkdir(staging.path, 0o700) == 0 else { throw SystemError("mkdir \(staging.path)") }
        var keep = false
        defer { if !keep { try? fm.removeItem(atPath: staging.path) } }
        guard mkdir(staging.imagesPath, 0o700) == 0 else { throw SystemError("mkdir \(staging.imagesPath)") }

        let start = Clock.now
        guard let root = process.root else {
            throw HarnessError.input("pid \(process.pid) was not started in an environment root; only processes that "
                                     + "SandboxedProcess.spawn started can be checkpointed")
        }
        var external = Dictionary(uniqueKeysWithValues: process.mounts.map { ($0.target, $0.key) })
        if storage != nil { external["/tmp"] = EphemeralStorage.criuKey }
        try dump(pid: process.pid, imagesDir: staging.imagesPath, externalMounts: external, network: network,
                 tcpEstablished: tcpEstablished)
        process.waitForExit(timeout: 10) // CRIU killed the tree; reap it
        let tmpDisk = try storage?.seal(into: staging.path + "/" + EphemeralStorage.fileName)
        let seconds = Clock.now - start
        for (name, source) in copies.sorted(by: { $0.key < $1.key }) {
            try SnapshotDirectory.copyTree(source, to: staging.path + "/" + name)
        }

        staging.restrictPermissions()
        let images = try staging.digestImages()
        var manifest = SnapshotManifest(criuVersion: (try? cachedServiceVersion()) ?? Criu.libraryVersion,
                                        stdio: process.stdio, imageBytes: staging.imageBytes(),
                                        dumpSeconds: seconds, function: function, images: images)
        manifest.networkKey = network.map { _ in EnvironmentNetwork.criuKey }
        manifest.tcpEstablished = tcpEstablished ? true : nil
        manifest.tmpDisk = tmpDisk
        manifest.mounts = process.mounts
        manifest.rootUser = root.user
        if !copies.isEmpty {
            manifest.trees = try Dictionary(uniqueKeysWithValues: copies.keys.map {
                ($0, try SnapshotDirectory.treeDigest(staging.path + "/" + $0))
            })
        }
        try staging.writeManifest(manifest)
        staging.writeVerified(manifest)
        try SnapshotDirectory.replace(snapshot, with: staging)
        keep = true
        return manifest
    }

    /// Dumps `pid` with libcriu into `imagesDir`. CRIU logs into a work folder in /tmp, not on the snapshot's disk: a
    /// full disk must not cut CRIU's own reason short ("No space left" was lost mid-line). The log joins the images
    /// (dump.log) once the dump worked; a failure keeps a copy in /tmp so the reasons stay readable.
    /// CRIU gets `timeout` seconds; past it (or on SIGINT/SIGTERM) its swrk is killed (the tree is thawed).
    func dump(pid: pid_t, imagesDir: String, leaveRunning: Bool = false, timeout: Double = 300,
              externalMounts: [String: String] = [:], network: EnvironmentNetwork? = nil,
              tcpEstablished: Bool = false) throws {
        let opts = try CriuOptions(binary: binary)
        let dirFD = try FD.openDirectory(imagesDir)
        defer { FD.close(dirFD) }
        criu_local_set_images_dir_fd(opts.raw, dirFD)
        let workDir = try ScratchFolder.make("/tmp/snapharness-dump")
        defer { try? FileManager.default.removeItem(atPath: workDir) }
        let workFD = try FD.openDirectory(workDir)
        defer { FD.close(workFD) }
        criu_local_set_work_dir_fd(opts.raw, workFD)
        criu_local_set_pid(opts.raw, pid)
        criu_local_set_leave_running(opts.raw, leaveRunning)
        try opts.applyCommon(logFile: "dump.log", logLevel: 4, tcpEstablished: tcpEstablished)
        for (mountpoint, key) in externalMounts.sorted(by: { $0.key < $1.key }) {
            guard criu_local_add_external(opts.raw, "mnt[\(mountpoint)]:\(key)") == 0 else {
                throw CriuError(operation: "setup", message: "criu_local_add_external(mnt[\(mountpoint)]) failed")
            }
        }
        if let network, criu_local_add_external(opts.raw, "net[\(network.inode)]:\(EnvironmentNetwork.criuKey)") != 0 {
            throw CriuError(operation: "setup", message: "criu_local_add_external(net[\(network.inode)]) failed")
        }
        try Interrupts.check() // a signal that came first: the function is gone already, nothing to dump
        let watchdog = CriuWatchdog(opts: opts, seconds: timeout)
        let ret = criu_local_dump(opts.raw)
        let stopped = watchdog.finish()
        guard ret >= 0 && !stopped else {
            let log = CriuError.keepLog(workDir + "/dump.log", operation: "dump")
            if stopped { throw CriuError(operation: "dump of pid \(pid)", timedOutAfter: timeout, logPath: log) }
            throw CriuError(operation: "dump of pid \(pid)", code: ret, logPath: log)
        }
        if (try? FileManager.default.copyItem(atPath: workDir + "/dump.log", toPath: imagesDir + "/dump.log")) != nil {
            chmod(imagesDir + "/dump.log", 0o600)
        }
    }
}

extension SnapshotDirectory {
    /// Renames a complete staging directory into place; a previous snapshot at the destination is replaced only now.
    static func replace(_ destination: SnapshotDirectory, with staging: SnapshotDirectory) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) {
            let old = destination.path + ".old-\(getpid())"
            guard rename(destination.path, old) == 0 else { throw SystemError("rename \(destination.path)") }
            guard rename(staging.path, destination.path) == 0 else {
                let e = SystemError("rename \(staging.path)")
                _ = rename(old, destination.path)
                throw e
            }
            try? fm.removeItem(atPath: old)
        } else {
            guard rename(staging.path, destination.path) == 0 else { throw SystemError("rename \(staging.path)") }
        }
    }
}
#endif
