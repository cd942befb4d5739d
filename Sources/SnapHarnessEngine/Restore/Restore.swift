#if os(Linux)
import CCriu
import CSandbox
import Foundation
import Glibc

extension Criu {
    /// Restores one copy of `snapshot` as a child of this process, in new pid, mount, ipc and uts namespaces of its
    /// own, so any number of copies can run side by side. Its stdio is re-plumbed to fresh pipes whose lines reach
    /// `onOutput`. Works from any snapharness process, not only the one that dumped.
    /// CRIU gets `timeout` seconds; past it (or on SIGINT/SIGTERM) whatever it started is killed.
    /// `layout`: the environment root and the host folder of each mount the snapshot left to the restorer (nil: the
    /// folders a bare process was dumped with); `network`: the fresh
    /// namespace for a tree dumped in its own (`manifest.networkKey`); `lazyPages`: the copy runs as soon as its
    /// registers are back and its memory arrives on demand (`LazyPages`), `onAllPages` hears when it is all in.
    /// `tmpView`: the copy's /tmp made beforehand (else made here for a snapshot with a /tmp disk); it is taken off
    /// the host once CRIU is done, whatever the outcome.
    public func restore(_ snapshot: SnapshotDirectory, manifest: SnapshotManifest? = nil, stdin: [UInt8] = [],
                        timeout: Double = 60, layout: RestoreLayout? = nil, network: EnvironmentNetwork? = nil,
                        tmpView: EphemeralStorage.CopyView? = nil, lazyPages: Bool = false,
                        onAllPages: (@Sendable (Double) -> Void)? = nil,
                        onOutput: @escaping @Sendable (OutputStreamKind, String) -> Void) throws -> SandboxedProcess {
        let start = Clock.now
        var view = tmpView // off the host once CRIU is done (or never started), whatever the outcome
        defer { view?.detach() }
        let manifest = try manifest ?? snapshot.loadManifest()
        if manifest.networkKey != nil && network == nil {
            throw HarnessError.input("\(snapshot.path) was taken in a network namespace of its own: restore it with "
                                     + "`snapharness restore`, which gives every copy a fresh one")
        }
        let opts = try CriuOptions(binary: binary)
        let imagesFD = try FD.openDirectory(snapshot.imagesPath)
        defer { FD.close(imagesFD) }
        // A work dir per restore: concurrent copies must not share a log, and the snapshot may be read-only.
        let workDir = try ScratchFolder.make("/tmp/snapharness-restore")
        var pages: LazyPages?
        defer { if pages == nil { try? FileManager.default.removeItem(atPath: workDir) } } // else the page server's
        let workFD = try FD.openDirectory(workDir)
        defer { FD.close(workFD) }

        criu_local_set_images_dir_fd(opts.raw, imagesFD)
        criu_local_set_work_dir_fd(opts.raw, workFD)
        let tcpEstablished = manifest.tcpEstablished == true
        if tcpEstablished && network == nil {
            throw HarnessError.input("\(snapshot.path) holds established connections inside its environment: restore it "
                                     + "with `snapharness restore`, which gives every copy a network namespace of its own")
        }
        try opts.applyCommon(logFile: "restore.log", logLevel: 2, tcpEstablished: tcpEstablished)
        let layout = try layout ?? RestoreLayout.recorded(snapshot, manifest: manifest)
        _ = criu_local_set_root(opts.raw, layout.root) // the tree's mount namespace is rooted there
        // The copy's /tmp: the snapshot's disk under a private copy-on-write layer, on the host only until CRIU has
        // bound it into the copy.
        view = try view ?? EphemeralStorage.CopyView.make(for: snapshot, manifest: manifest)
        let externalMounts = view?.adding(to: layout.externalMounts) ?? layout.externalMounts
        for (key, path) in externalMounts.sorted(by: { $0.key < $1.key }) {
            guard criu_local_add_external(opts.raw, "mnt[\(key)]:\(path)") == 0 else {
                throw CriuError(operation: "setup", message: "criu_local_add_external(mnt[\(key)]) failed")
            }
        }

        if let key = manifest.networkKey, let network {
            // libcriu keeps the number only: the descriptor stays open until the call returns.
            try FD.setCloseOnExec(network.fd, false)
            _ = criu_local_add_inherit_fd(opts.raw, network.fd, key)
        }
        defer { if let network { try? FD.setCloseOnExec(network.fd, true) } }
        try Interrupts.check()
        if lazyPages {
            pages = try LazyPages.start(criu: self, images: snapshot.imagesPath, workDirectory: workDir, started: start,
                                        onAllPages: onAllPages)
            sh_criu_set_lazy_pages(opts.raw, true)
        }
        var restored = false
        defer { if !restored { pages?.stop() } }
        defer { pages?.restoreCallEnded() } // runs first: libcriu has reaped the swrk, which wrote in the folder
        let pipes = try StdioPipes.make(stdin: stdin)
        for (fd, key) in zip(pipes.childEnds, manifest.stdio.byFD.map(\.1)) {
            do {
                try FD.setCloseOnExec(fd, false) // criu swrk must inherit it
            } catch { pipes.closeAll(); throw error }
            _ = criu_local_add_inherit_fd(opts.raw, fd, key)
        }
        let watchdog = CriuWatchdog(opts: opts, seconds: timeout)
        let pid = criu_local_restore_child(opts.raw)
        let stopped = watchdog.finish()
        pipes.closeChildEnds()
        guard pid > 0 && !stopped else {
            FD.close(pipes.stdoutRead)
            FD.close(pipes.stderrRead)
            let log = CriuError.keepLog(workDir + "/restore.log", operation: "restore")
            if stopped {
                throw CriuError(operation: "restore of \(snapshot.path)", timedOutAfter: timeout, logPath: log)
            }
            throw CriuError(operation: "restore of \(snapshot.path)", code: pid, logPath: log)
        }
        if tcpEstablished, let network, sh_tcp_destroy_orphans(network.fd) < 0 {
            // The tree runs already (parked): it must not go on with live connections to the outside.
            let why = String(cString: strerror(errno))
            _ = ChildProcess(pid: pid).terminate()
            FD.close(pipes.stdoutRead)
            FD.close(pipes.stderrRead)
            throw CriuError(operation: "restore of \(snapshot.path)",
                            message: "could not cut the restored copy's connections to the outside (SOCK_DESTROY: \(why))")
        }
        let marks = OutputMarks()
        let readers = pipes.startReaders(marks: marks, onOutput)
        restored = true
        return SandboxedProcess(process: ChildProcess(pid: pid), stdio: manifest.stdio, readers: readers, marks: marks,
                                lazyPages: pages)
    }
}
#endif
