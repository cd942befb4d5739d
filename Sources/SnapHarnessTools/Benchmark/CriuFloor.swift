#if os(Linux)
import Foundation
import SnapHarnessEngine
import SnapHarnessProtocol
import Glibc

/// Restores a function snapshot with the `criu` command line and drives it with the bare protocol: the floor the
/// harness's restore path is compared with, and the lazy (userfaultfd) restore, which the harness does not offer.
///
/// The command line is the harness's restore as a CLI call: `criu restore -D images --root / --tcp-close
/// --network-lock skip -d`, plus `-S` (the restored pid 1 becomes our child, so we reap it by pid), `--inherit-fd` for the
/// three stdio pipes (as the harness does through libcriu) and a pidfile. CRIU restores the network-lock method
/// recorded at dump time whatever `--network-lock` says on restore.
struct CriuFloor {
    let criu: Criu
    let snapshot: SnapshotDirectory
    let manifest: SnapshotManifest
    let function: FunctionManifest
    /// Scratch folder for CRIU's logs, pidfile and lazy-pages socket (short path: the socket lives there).
    let workDirectory: String
    /// The function's user (the control socket's owner when the snapshot has no network of its own).
    let owner: FunctionUser
    let event: String

    /// Restores once, eagerly or lazily, measures, and kills what it restored. Metrics in milliseconds from the
    /// moment the first CRIU process is started.
    func run(lazy: Bool, requestId: String) throws -> [String: Double] {
        try? FileManager.default.removeItem(atPath: workDirectory)
        guard mkdir(workDirectory, 0o700) == 0 else { throw SystemError("mkdir \(workDirectory)") }
        let pidfile = workDirectory + "/pid"
        let cliOutput = workDirectory + "/criu.out"
        var metrics: [String: Double] = [:]
        let timeout = function.restoreTimeoutSeconds + function.timeoutSeconds + 30

        let layout = try function.restoreLayout(snapshot, manifest: manifest) // worked out before the clock starts
        let lambdaMounts = layout.externalMounts
        // The environment's network and /tmp disk exist before the restore, as on Lambda (their cost is not the
        // restore's), as `RestoredEnvironment.prepare` makes them.
        let network = try manifest.networkKey.map { _ in try EnvironmentNetwork.create() }
        defer { network?.remove() }
        let control = try BareControlSocket(owner: owner, network: network)
        defer { control.close() }
        let tmpView = try EphemeralStorage.CopyView.make(for: snapshot, manifest: manifest)
        defer { tmpView?.detach() }
        let externalMounts = tmpView?.adding(to: lambdaMounts) ?? lambdaMounts
        let start = Clock.now
        var daemon: LazyPages?
        defer { daemon?.stop() }
        if lazy {
            daemon = try LazyPages.start(criu: criu, images: snapshot.imagesPath, workDirectory: workDirectory,
                                         started: start, removeWhenDone: false)
            metrics["daemonReady"] = (Clock.now - start) * 1000
        }

        let pipes = try StdioPipes.make(stdin: control.addressLine)
        var argv = [criu.binary, "restore", "-D", snapshot.imagesPath, "-W", workDirectory, "-o", "restore.log", "-v2",
                    "--root", layout.root, manifest.tcpEstablished == true ? "--tcp-established" : "--tcp-close", "--network-lock", "skip", "--file-locks", "--manage-cgroups=ignore", "-d", "-S",
                    "--pidfile", pidfile]
        var fds: [(Int32, Int32)] = []
        for (i, (fd, key)) in zip(pipes.childEnds, manifest.stdio.byFD.map(\.1)).enumerated() {
            argv += ["--inherit-fd", "fd[\(3 + i)]:\(key)"]
            fds.append((fd, Int32(3 + i)))
        }
        for (key, path) in externalMounts.sorted(by: { $0.key < $1.key }) {
            argv += ["--external", "mnt[\(key)]:\(path)"]
        }
        if let network, let key = manifest.networkKey {
            let target = Int32(3 + fds.count)
            argv += ["--inherit-fd", "fd[\(target)]:\(key)"]
            fds.append((network.fd, target))
        }
        if lazy { argv.append("--lazy-pages") }
        let restorer: ChildProcess
        do {
            restorer = try CommandSpawn.spawn(argv, fds: fds, outputFile: cliOutput)
        } catch { pipes.closeAll(); throw error }
        pipes.closeChildEnds()
        var drain = [pipes.stdoutRead, pipes.stderrRead]
        defer { BareConnection.closeDrained(&drain) }
        let status = restorer.wait(timeout: timeout) ?? { restorer.terminate(); return .signaled(SIGKILL) }()
        metrics["running"] = (Clock.now - start) * 1000
        guard status == .exited(0) else {
            throw CriuError(operation: "criu restore\(lazy ? " --lazy-pages" : "") (\(status))", code: 0,
                            logPath: workDirectory + "/restore.log")
        }
        guard let text = try? String(contentsOfFile: pidfile, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError.input("criu restore wrote no pidfile at \(pidfile)")
        }
        let restored = ChildProcess(pid: pid) // a sibling of criu (-S): our child
        defer { restored.terminate() }
        let conn = try drive(restored, control: control, start: start, timeout: timeout, drain: &drain, metrics: &metrics,
                             requestId: requestId)
        if let d = daemon {
            // The daemon pushes the pages nobody asked for yet, then exits: that is when the copy is whole.
            guard let all = d.waitUntilComplete(timeout: timeout) else {
                throw HarnessError.input("the lazy-pages daemon did not finish within \(Int(timeout)) s")
            }
            metrics["allPages"] = all
        }
        try? conn.send(.shutdown)
        return metrics
    }

    /// The harness's libcriu restore (`Criu.restore`: criu swrk, work folder, inherit-fd, output readers) driven by
    /// the bare protocol: splits the harness's overhead into its CRIU call and its protocol side.
    func runLibcriu(requestId: String) throws -> [String: Double] {
        var metrics: [String: Double] = [:]
        let timeout = function.restoreTimeoutSeconds + function.timeoutSeconds + 30
        let layout = try function.restoreLayout(snapshot, manifest: manifest)
        let network = try manifest.networkKey.map { _ in try EnvironmentNetwork.create() }
        defer { network?.remove() }
        let control = try BareControlSocket(owner: owner, network: network)
        defer { control.close() }
        let tmpView = try EphemeralStorage.CopyView.make(for: snapshot, manifest: manifest) // Criu.restore detaches it
        let start = Clock.now
        let restored = try criu.restore(snapshot, manifest: manifest, stdin: control.addressLine,
                                        layout: layout, network: network, tmpView: tmpView) { _, _ in }
        metrics["running"] = (Clock.now - start) * 1000
        defer { restored.terminate() }
        var drain: [Int32] = []
        let conn = try drive(restored.process, control: control, start: start, timeout: timeout, drain: &drain,
                             metrics: &metrics, requestId: requestId)
        try? conn.send(.shutdown)
        return metrics
    }

    /// Wakes a restored copy and takes it through hello -> after_restore -> one invocation.
    private func drive(_ restored: ChildProcess, control: BareControlSocket, start: Double, timeout: Double, drain: inout [Int32],
                       metrics: inout [String: Double], requestId: String) throws -> BareConnection {
        let deadline = Clock.now + timeout
        restored.signal(SIGUSR1)
        guard let conn = try control.accept(deadline: deadline, drain: &drain),
              case .hello? = try conn.exchange(nil, deadline: deadline, drain: &drain) else {
            throw HarnessError.input("the restored function did not reconnect (\(restored.poll().map { "\($0)" } ?? "still running"))")
        }
        metrics["firstOutput"] = (Clock.now - start) * 1000
        guard case .restored? = try conn.exchange(.afterRestore(environment: nil), deadline: deadline, drain: &drain) else {
            throw HarnessError.input("the restored function did not finish its after-restore hooks")
        }
        metrics["ready"] = (Clock.now - start) * 1000
        guard case .result? = try conn.exchange(invocation(requestId: requestId), deadline: deadline, drain: &drain) else {
            throw HarnessError.input("the restored function did not answer the invocation with a result")
        }
        metrics["firstResponse"] = (Clock.now - start) * 1000
        return conn
    }

    func invocation(requestId: String) -> SupervisorMessage {
        .invoke(.init(requestId: requestId, event: event,
                      deadlineMs: Int64((Date().timeIntervalSince1970 + function.timeoutSeconds) * 1000),
                      invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:bench"))
    }
}

#endif
