#if os(Linux)
import Foundation
import Glibc

/// An image read from where the user keeps it, every blob checked against its digest: an OCI image layout folder
/// (`DIR`, `DIR:TAG`, `oci:DIR[:TAG]`), an oci-archive or docker-archive tarball (`docker save`, `podman save`,
/// `skopeo copy`; `oci-archive:` and `docker-archive:` prefixes accepted), or, with skopeo installed, any reference
/// skopeo reads (`docker://`, `containers-storage:`), copied into a layout first. Never a registry client of its own.
final class ImageSource {
    let reference: String
    /// The config blob's digest: the image's identity.
    let configDigest: String
    let config: ContainerImage.Config
    /// The layer files, bottom first.
    let layers: [String]
    /// A folder this source unpacked or copied into (removed by `close`).
    private let temporary: String?

    private init(reference: String, configDigest: String, config: ContainerImage.Config, layers: [String],
                 temporary: String?) {
        (self.reference, self.configDigest, self.config, self.layers, self.temporary)
            = (reference, configDigest, config, layers, temporary)
    }

    func close() {
        if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
    }

    static let usage = "pass an OCI image layout folder (DIR or DIR:TAG), an oci-archive or docker-archive tarball "
        + "(docker save, podman save, skopeo copy), or a docker:// or containers-storage: reference with skopeo installed"

    static func open(_ reference: String, progress: (String) -> Void) throws -> ImageSource {
        var name = reference
        for remote in ["docker://", "containers-storage:", "docker-daemon:"] where name.hasPrefix(remote) {
            return try copied(reference, progress: progress)
        }
        var archiveOnly = false
        if name.hasPrefix("oci:") { name = String(name.dropFirst(4)) }
        for prefix in ["oci-archive:", "docker-archive:"] where name.hasPrefix(prefix) {
            name = String(name.dropFirst(prefix.count))
            archiveOnly = true
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: name, isDirectory: &isDir) {
            if isDir.boolValue && !archiveOnly { return try folder(name, tag: nil, reference: reference, temporary: nil) }
            if !isDir.boolValue { return try archive(name, reference: reference, progress: progress) }
        }
        if let colon = name.lastIndex(of: ":"), !archiveOnly {
            let dir = String(name[..<colon]), tag = String(name[name.index(after: colon)...])
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue {
                return try folder(dir, tag: tag, reference: reference, temporary: nil)
            }
        }
        throw HarnessError.input("no container image at \(reference): \(usage)")
    }

    /// A tarball: unpacked into a scratch folder of the cache, then read as the folder it holds.
    private static func archive(_ path: String, reference: String, progress: (String) -> Void) throws -> ImageSource {
        let scratch = try ScratchFolder.make(ImageStore.base + "/.archive")
        do {
            progress("reading the image archive \(path)")
            do {
                _ = try Tools.output([try Tools.find("bsdtar"), "-xf", path, "-C", scratch, "--no-same-owner"],
                                     what: "unpacking the image archive \(path)")
            } catch let error as HarnessError {
                throw HarnessError.input("\(path) is not an image archive (an oci-archive or docker-archive tar file, as "
                                         + "docker save, podman save or skopeo copy write it): \(error)")
            }
            return try folder(scratch, tag: nil, reference: reference, temporary: scratch)
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
    }

    /// docker://, containers-storage:, ...: skopeo copies the image into an OCI layout first.
    private static func copied(_ reference: String, progress: (String) -> Void) throws -> ImageSource {
        guard let skopeo = try? Tools.find("skopeo") else {
            throw HarnessError.input("\(reference) needs skopeo to be read (apt-get install skopeo), or save the image to a "
                                     + "file first (docker save -o image.tar IMAGE, podman save) and pass that file")
        }
        let scratch = try ScratchFolder.make(ImageStore.base + "/.copy")
        do {
            progress("copying \(reference) with skopeo")
            _ = try Tools.output([skopeo, "copy", "--insecure-policy", reference, "oci:\(scratch)/layout:image"],
                                 what: "skopeo copy \(reference)")
            return try folder(scratch + "/layout", tag: "image", reference: reference, temporary: scratch)
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
    }

    /// An OCI layout (index.json) or an unpacked docker-archive (manifest.json).
    private static func folder(_ dir: String, tag: String?, reference: String, temporary: String?) throws -> ImageSource {
        let fm = FileManager.default
        if fm.fileExists(atPath: dir + "/index.json") {
            return try ociLayout(dir, tag: tag, reference: reference, temporary: temporary)
        }
        if fm.fileExists(atPath: dir + "/manifest.json") {
            return try dockerArchive(dir, reference: reference, temporary: temporary)
        }
        throw HarnessError.input("\(reference) is neither an OCI image layout (no index.json) nor a docker-archive "
                                 + "(no manifest.json): \(usage)")
    }

    // MARK: - OCI image layout

    struct Descriptor: Decodable {
        var mediaType: String?
        var digest: String
        var size: Int64?
        var annotations: [String: String]?
        var platform: Platform?
        struct Platform: Decodable { var architecture: String?; var os: String? }
    }
    struct Index: Decodable { var manifests: [Descriptor] }
    struct Manifest: Decodable { var config: Descriptor; var layers: [Descriptor] }
    struct ConfigFile: Decodable {
        var architecture: String?
        var os: String?
        var config: ContainerImage.Config?
        var rootfs: RootFS?
        struct RootFS: Decodable { var diff_ids: [String]? }
    }

    static let refName = "org.opencontainers.image.ref.name"

    private static func ociLayout(_ dir: String, tag: String?, reference: String, temporary: String?) throws -> ImageSource {
        let index: Index = try json(dir + "/index.json", what: "\(reference): index.json")
        var chosen: Descriptor
        if let tag {
            guard let match = index.manifests.first(where: { $0.annotations?[refName] == tag }) else {
                throw HarnessError.input("\(reference): the layout has no image tagged \(tag); it has "
                                         + tags(index).joined(separator: ", "))
            }
            chosen = match
        } else {
            guard index.manifests.count == 1, let only = index.manifests.first else {
                throw HarnessError.input("\(reference) holds \(index.manifests.count) images: name one as DIR:TAG "
                                         + "(tags: \(tags(index).joined(separator: ", ")))")
            }
            chosen = only
        }
        // A multi-platform image: this machine's platform.
        if chosen.mediaType?.contains("index") == true || chosen.mediaType?.contains("manifest.list") == true {
            let nested: Index = try json(try blob(dir, chosen, reference: reference), what: "\(reference): image index")
            guard let mine = nested.manifests.first(where: {
                $0.platform?.os == "linux" && $0.platform?.architecture == "amd64"
            }) else { throw HarnessError.input("\(reference) has no linux/amd64 image (this machine is x86_64)") }
            chosen = mine
        }
        let manifest: Manifest = try json(try blob(dir, chosen, reference: reference), what: "\(reference): manifest")
        let configPath = try blob(dir, manifest.config, reference: reference)
        let config: ConfigFile = try json(configPath, what: "\(reference): image config")
        try checkPlatform(config, reference: reference)
        let layers = try manifest.layers.map { try blob(dir, $0, reference: reference) }
        return ImageSource(reference: reference, configDigest: manifest.config.digest, config: config.config ?? .init(),
                           layers: layers, temporary: temporary)
    }

    private static func tags(_ index: Index) -> [String] {
        let names = index.manifests.compactMap { $0.annotations?[refName] }
        return names.isEmpty ? ["none"] : names
    }

    /// The blob's file, checked against its digest and size.
    private static func blob(_ dir: String, _ descriptor: Descriptor, reference: String) throws -> String {
        let parts = descriptor.digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "sha256", parts[1].allSatisfy(\.isHexDigit) else {
            throw HarnessError.input("\(reference): unsupported digest \(descriptor.digest) (only sha256 is read)")
        }
        let path = "\(dir)/blobs/sha256/\(parts[1])"
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw HarnessError.input("\(reference) is incomplete: blob \(descriptor.digest) is missing")
        }
        if let size = descriptor.size, Int64(st.st_size) != size {
            throw HarnessError.input("\(reference) is damaged: blob \(descriptor.digest) has \(st.st_size) bytes, "
                                     + "its descriptor says \(size)")
        }
        let actual = try Tools.sha256(path)
        guard actual == descriptor.digest else {
            throw HarnessError.input("\(reference) is damaged: blob \(descriptor.digest) has the digest \(actual)")
        }
        return path
    }

    // MARK: - docker-archive

    struct DockerManifest: Decodable {
        var Config: String
        var Layers: [String]
    }

    private static func dockerArchive(_ dir: String, reference: String, temporary: String?) throws -> ImageSource {
        let entries: [DockerManifest] = try json(dir + "/manifest.json", what: "\(reference): manifest.json")
        guard let entry = entries.first else { throw HarnessError.input("\(reference): manifest.json lists no image") }
        if entries.count > 1 {
            throw HarnessError.input("\(reference) holds \(entries.count) images; save one image per archive")
        }
        let configPath = dir + "/" + entry.Config
        let config: ConfigFile = try json(configPath, what: "\(reference): image config")
        try checkPlatform(config, reference: reference)
        let diffIDs = config.rootfs?.diff_ids ?? []
        guard diffIDs.count == entry.Layers.count else {
            throw HarnessError.input("\(reference) is damaged: \(entry.Layers.count) layers, but its config names "
                                     + "\(diffIDs.count)")
        }
        var layers: [String] = []
        for (n, (layer, diffID)) in zip(entry.Layers, diffIDs).enumerated() {
            let path = dir + "/" + layer
            guard FileManager.default.fileExists(atPath: path) else {
                throw HarnessError.input("\(reference) is incomplete: layer \(n + 1) (\(layer)) is missing")
            }
            let actual = try Tools.sha256(path)
            guard actual == diffID else {
                throw HarnessError.input("\(reference) is damaged: layer \(n + 1) has the digest \(actual), its config "
                                         + "says \(diffID)")
            }
            layers.append(path)
        }
        return ImageSource(reference: reference, configDigest: try Tools.sha256(configPath), config: config.config ?? .init(),
                           layers: layers, temporary: temporary)
    }

    // MARK: -

    private static func checkPlatform(_ config: ConfigFile, reference: String) throws {
        if let os = config.os, os != "linux" { throw HarnessError.input("\(reference) is an image for \(os), not Linux") }
        if let arch = config.architecture, arch != "amd64" {
            throw HarnessError.input("\(reference) is an image for \(arch); this machine runs x86_64 (amd64) images only")
        }
    }

    private static func json<T: Decodable>(_ path: String, what: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HarnessError.input("\(what) cannot be read (\(path))")
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw HarnessError.input("\(what) is not what an image holds: \(error)")
        }
    }
}
#endif
