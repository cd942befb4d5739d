import Foundation
import Glibc
import SnapHarnessEngine
import Testing

let testImages = TestEnvironment.repoRoot + "/.deps/images"
let testImagesBuilt = ["layout/index.json", "python-base.oci.tar", "python-base.docker.tar"].allSatisfy {
    FileManager.default.fileExists(atPath: testImages + "/" + $0)
}

/// Container-image functions (`--image`, `PackageType: Image`): real OCI images that scripts/test-images.sh builds
/// offline from Debian packages, read from a layout folder and from oci-archive and docker-archive tarballs, their
/// layers flattened into the image cache and used as each environment's root, their config obeyed as on Lambda.
@Suite(.serialized, .enabled(if: TestEnvironment.canCheckpoint && CLI.available && testImagesBuilt,
                             "needs root, CRIU and the test images (`make test` builds them: scripts/test-images.sh)"))
struct ImageTests {
    static let images = testImages
    static let formats = ["layout:python-base", "python-base.oci.tar", "python-base.docker.tar"]


    /// AWS's Python base image as it is: /lambda-entrypoint.sh + CMD (the handler), awslambdaric calling
    /// restore/next, hooks from snapshot_restore_py. Two copies from one snapshot, in each format an image comes in.
    @Test(arguments: formats)
    func awsPythonBaseImageRunsUnderSnapStart(format: String) throws {
        let r = try CLI.run(["run", "--image", Self.images + "/" + format, "--restores", "2"])
        #expect(r.exitCode == 0, "\(r)")
        let copies = r.jsonLines.map { object(object($0)["result"]) }
        #expect(copies.count == 2, "\(r)")
        for seen in copies {
            #expect(seen["image"] as? String == "python-base" && seen["initialization_type"] as? String == "snap-start", "\(seen)")
            #expect(seen["cwd"] as? String == "/var/task" && seen["task_root"] as? String == "/var/task", "WORKDIR: \(seen)")
            #expect(seen["uid"] as? Int == 993, "Lambda's sandbox user without a USER: \(seen)")
            let hooks = seen["hooks"] as? [String] ?? []
            #expect(hooks.count == 2, "a before-snapshot and an after-restore hook ran: \(seen)")
        }
        // The snapshot's bug, reproduced from an image as from a zip: Init's values are in every copy.
        #expect(Set(copies.compactMap { $0["init_id"] as? String }).count == 1, "\(copies)")
        #expect(r.stderr.contains("INIT_START") && r.stderr.contains("RESTORE_REPORT"), "\(r)")
    }

    /// Neither an AWS base image, nor the label, nor restore/next: Lambda would refuse to publish; so does snapshot,
    /// with the reason, and nothing is written. The label alone makes the same image acceptable.
    @Test func aCustomImageNeedsTheLabelOrRestoreNext() throws {
        let dir = TestEnvironment.scratchDirectory("img-refuse")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try leavesNothingBehind {
            let refused = try CLI.run(["snapshot", "--image", Self.images + "/layout:custom-norestore", "-o", dir + "/snap"])
            #expect(refused.exitCode == 1, "\(refused)")
            #expect(refused.stderr.contains("Lambda refuses SnapStart for the image")
                    && refused.stderr.contains("com.amazonaws.lambda.feature.snapstart"), "\(refused)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/snap"), "no snapshot is written")
        }
        let allowed = try CLI.run(["run", "--image", Self.images + "/layout:custom-allow", "--restores", "2",
                                   "--event", "-"], stdin: #"{"n": 7}"#)
        #expect(allowed.exitCode == 0, "\(allowed)")
        let results = allowed.jsonLines.map { object(object($0)["result"]) }
        #expect(results.count == 2 && results.allSatisfy { object($0["echo"])["n"] as? Int == 7 }, "\(allowed)")
    }

    /// The manifest names the image; restore uses the cache and refuses an image that is gone or changed.
    @Test func snapshotsNameTheirImageAndRefuseAnother() throws {
        let dir = TestEnvironment.scratchDirectory("img-snap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A copy of the layout, so this test can retag it.
        let layout = dir + "/layout"
        try FileManager.default.copyItem(atPath: Self.images + "/layout", toPath: layout)
        let snap = try CLI.run(["snapshot", "--image", layout + ":python-base", "-o", dir + "/snap"])
        try #require(snap.exitCode == 0, "\(snap)")
        let inspect = try CLI.run(["inspect", dir + "/snap", "--json"])
        let summary = object(inspect.json)
        let id = try #require(summary["imageID"] as? String, "\(inspect)")
        #expect(summary["image"] as? String == layout + ":python-base" && summary["restorableHere"] as? Bool == true, "\(inspect)")
        let restored = try CLI.run(["restore", dir + "/snap", "--count", "2"])
        #expect(restored.exitCode == 0 && restored.jsonLines.count == 2, "\(restored)")

        // The tag now names another image, and the cache lost the snapshot's: refused, with both ids.
        let indexPath = layout + "/index.json"
        var index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as? [String: Any])
        var manifests = index["manifests"] as? [[String: Any]] ?? []
        let tagKey = "org.opencontainers.image.ref.name"
        let other = try #require(manifests.firstIndex { object($0["annotations"])[tagKey] as? String == "custom-allow" })
        let base = try #require(manifests.firstIndex { object($0["annotations"])[tagKey] as? String == "python-base" })
        let swapped = manifests[other]
        manifests[other] = manifests[base]
        manifests[base] = swapped
        (manifests[base]["annotations"], manifests[other]["annotations"]) = ([tagKey: "python-base"], [tagKey: "custom-allow"])
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        let cached = ImageStore.base + "/" + id.replacingOccurrences(of: "sha256:", with: "")
        try FileManager.default.removeItem(atPath: cached)
        let changed = try CLI.run(["restore", dir + "/snap"])
        #expect(changed.exitCode == 1 && changed.stderr.contains("now names another image") && changed.stderr.contains(id),
                "\(changed)")
        // Gone altogether.
        try FileManager.default.removeItem(atPath: layout)
        let gone = try CLI.run(["inspect", dir + "/snap"])
        #expect(gone.exitCode == 1 && gone.stdout.contains("needs the image"), "\(gone)")
        // Back as it was: the cache is filled again from the reference and the snapshot restores.
        try FileManager.default.copyItem(atPath: Self.images + "/layout", toPath: layout)
        let again = try CLI.run(["restore", dir + "/snap"])
        #expect(again.exitCode == 0, "\(again)")
    }

    /// A template's `PackageType: Image` with a local ImageUri and the function's ImageConfig.
    @Test func aTemplatesImageFunction() throws {
        let r = try CLI.run(["run", "-t", CLI.fixture("sam_image/template.yaml")])
        #expect(r.exitCode == 0, "\(r)")
        #expect(object(r.json)["image"] as? String == "python-base" && object(r.json)["cwd"] as? String == "/var/task", "\(r)")
        let handlerMissing = try CLI.run(["run", "-t", CLI.fixture("sam_image/template.yaml"), "--handler", "app.nope"])
        #expect(handlerMissing.exitCode == 3 && handlerMissing.stderr.contains("Handler 'nope' missing on module 'app'"), "--handler replaces CMD: \(handlerMissing)")
    }

    /// Layers flattened as a container runtime flattens them (a whiteout removes a lower layer's file, an opaque
    /// folder hides a lower layer's contents), and never written outside the image: a symlink a lower layer planted
    /// is not followed by an upper layer's file.
    @Test func layersAreFlattenedWithWhiteoutsAndNeverEscape() throws {
        let dir = TestEnvironment.scratchDirectory("img-layers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outside = dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let lower = try HandMadeImage.layer(dir + "/lower", [
            "etc/keep": .file("lower"), "data/a": .file("a"), "data/b": .file("b"), "gone": .file("x"),
        ])
        let upper = try HandMadeImage.layer(dir + "/upper", [
            "etc/.wh.keep": .file(""), "data/.wh..wh..opq": .file(""), "data/c": .file("c"), "added": .file("new"),
        ])
        let image = try HandMadeImage.layout(dir + "/layout", layers: [lower, upper], entrypoint: ["/nothing"])
        let r = try CLI.run(["snapshot", "--image", image, "-o", dir + "/snap"])
        #expect(r.exitCode == 3 && r.stderr.contains("Runtime.InvalidEntrypoint"), "no such entrypoint in it: \(r)")
        let rootfs = try #require(HandMadeImage.rootfs(of: dir + "/layout"))
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: rootfs + "/etc/keep"), "a whiteout removes the lower layer's file")
        #expect((try? fm.contentsOfDirectory(atPath: rootfs + "/data")) == ["c"], "an opaque folder hides the lower one")
        #expect(fm.fileExists(atPath: rootfs + "/gone") && fm.fileExists(atPath: rootfs + "/added"))
        #expect(fm.fileExists(atPath: rootfs + "/dev/null") && fm.fileExists(atPath: rootfs + "/.snapharness/agent"),
                "the environment's entries are added")

        // escape -> a folder outside, then escape/evil in the next layer (no folder entry: GNU tar would follow it).
        let planted = try HandMadeImage.layer(dir + "/planted", ["escape": .link(outside)])
        let through = try HandMadeImage.layer(dir + "/through", ["escape/evil": .file("written outside")],
                                              withFolders: false)
        let hostile = try HandMadeImage.layout(dir + "/hostile", layers: [planted, through], entrypoint: ["/nothing"])
        let refused = try CLI.run(["snapshot", "--image", hostile, "-o", dir + "/snap2"])
        #expect(refused.exitCode == 1 && refused.stderr.contains("symlink"), "\(refused)")
        #expect((try? fm.contentsOfDirectory(atPath: outside)) == [], "nothing was written outside the image")
    }

    /// A damaged or incomplete image is refused before anything runs, with what is wrong.
    @Test func damagedImagesAreRefusedWithTheirFault() throws {
        let dir = TestEnvironment.scratchDirectory("img-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = dir + "/layout"
        try FileManager.default.copyItem(atPath: Self.images + "/layout", toPath: layout)
        let blobs = layout + "/blobs/sha256"
        // The largest blob is a layer: flip one byte of it.
        let largest = try #require(try FileManager.default.contentsOfDirectory(atPath: blobs).max { a, b in
            let size = { (n: String) in (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + n)[.size] as? Int) ?? 0 }
            return size(a) < size(b)
        })
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: blobs + "/" + largest))
        try handle.seek(toOffset: 1000)
        let byte = try handle.read(upToCount: 1) ?? Data([0])
        try handle.seek(toOffset: 1000)
        try handle.write(contentsOf: Data([byte[0] ^ 0xff]))
        try handle.close()
        let damaged = try CLI.run(["run", "--image", layout + ":python-base"])
        #expect(damaged.exitCode == 1 && damaged.stderr.contains("is damaged") && damaged.stderr.contains(largest), "\(damaged)")
        #expect(!damaged.stderr.contains("INIT_START"))
        let untagged = try CLI.run(["run", "--image", layout + ":no-such-tag"])
        #expect(untagged.exitCode == 1 && untagged.stderr.contains("no image tagged no-such-tag"), "\(untagged)")
        let nothing = try CLI.run(["run", "--image", dir + "/nothing-here"])
        #expect(nothing.exitCode == 1 && nothing.stderr.contains("no container image at"), "\(nothing)")
        let notATar = try CLI.run(["run", "--image", CLI.example("hello/lambda_function.py")])
        #expect(notATar.exitCode == 1 && notATar.stderr.contains("is not an image archive"), "\(notATar)")
        // A reference only skopeo reads: its own reason (nothing listens there), never a registry client of ours.
        let remote = try CLI.run(["run", "--image", "docker://127.0.0.1:1/nothing:latest"])
        #expect(remote.exitCode == 1 && remote.stderr.contains("skopeo copy docker://127.0.0.1:1/nothing:latest failed"),
                "\(remote)")
        let both = try CLI.run(["run", CLI.example("hello"), "--image", Self.images + "/python-base.oci.tar"])
        #expect(both.exitCode == 1 && both.stderr.contains("either a function folder or --image"), "\(both)")
    }
}

/// Small OCI images made by hand with tar and sha256sum, for what no real image should contain.
enum HandMadeImage {
    enum Entry { case file(String), link(String) }

    /// A layer tarball holding `entries` (paths relative to its root); with `withFolders`, their folders too.
    static func layer(_ folder: String, _ entries: [String: Entry], withFolders: Bool = true) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (path, entry) in entries {
            let full = folder + "/" + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            switch entry {
            case .file(let text): try text.write(toFile: full, atomically: false, encoding: .utf8)
            case .link(let target): try fm.createSymbolicLink(atPath: full, withDestinationPath: target)
            }
        }
        let names = withFolders ? ["."] : entries.keys.sorted().map { "./" + $0 }
        let tarball = folder + ".tar"
        let list = withFolders ? "-T <(cd '\(folder)' && find . | sort)" : names.map { "'\($0)'" }.joined(separator: " ")
        try sh("tar --numeric-owner --no-recursion -cf '\(tarball)' -C '\(folder)' \(list)")
        return tarball
    }

    /// An OCI layout holding one image tagged `latest`; returns `layout:latest`.
    static func layout(_ layout: String, layers: [String], entrypoint: [String]) throws -> String {
        let blobs = layout + "/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        func blob(_ path: String) throws -> (digest: String, size: Int) {
            let hex = try sh("sha256sum '\(path)' | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
            try? FileManager.default.removeItem(atPath: blobs + "/" + hex)
            try FileManager.default.copyItem(atPath: path, toPath: blobs + "/" + hex)
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            return ("sha256:" + hex, size)
        }
        func json(_ object: Any, _ name: String) throws -> (digest: String, size: Int) {
            let path = layout + "/" + name
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try blob(path)
        }
        var layerDescriptors: [[String: Any]] = []
        var diffIDs: [String] = []
        for layer in layers {
            let (digest, size) = try blob(layer)
            layerDescriptors.append(["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size])
            diffIDs.append(digest)
        }
        let config = try json(["architecture": "amd64", "os": "linux", "config": ["Entrypoint": entrypoint],
                               "rootfs": ["type": "layers", "diff_ids": diffIDs]], "config.json")
        let manifest = try json(["schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                 "config": ["mediaType": "application/vnd.oci.image.config.v1+json",
                                            "digest": config.digest, "size": config.size],
                                 "layers": layerDescriptors], "manifest.json")
        try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2,
            "manifests": [["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest.digest,
                           "size": manifest.size, "annotations": ["org.opencontainers.image.ref.name": "latest"]]],
        ]).write(to: URL(fileURLWithPath: layout + "/index.json"))
        try #"{"imageLayoutVersion": "1.0.0"}"#.write(toFile: layout + "/oci-layout", atomically: true, encoding: .utf8)
        return layout + ":latest"
    }

    /// The image cache's root of the layout's image (by its config digest).
    static func rootfs(of layout: String) -> String? {
        guard let index = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as? [String: Any],
              let digest = ((index["manifests"] as? [[String: Any]])?.first?["digest"] as? String)?.dropFirst(7),
              let manifest = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest))) as? [String: Any],
              let config = ((manifest["config"] as? [String: Any])?["digest"] as? String)?.dropFirst(7) else { return nil }
        return ImageStore.base + "/" + config + "/rootfs"
    }

    @discardableResult
    static func sh(_ command: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw HarnessError.input("`\(command)` failed (\(p.terminationStatus))") }
        return String(decoding: data, as: UTF8.self)
    }
}
