import Foundation
import Glibc
import SnapHarness
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

    func object(_ any: Any?) -> [String: Any] { any as? [String: Any] ?? [:] }

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
        let both = try CLI.run(["run", CLI.example("hello"), "--image", Self.images + "/python-base.oci.tar"])
        #expect(both.exitCode == 1 && both.stderr.contains("either a function folder or --image"), "\(both)")
    }
}
