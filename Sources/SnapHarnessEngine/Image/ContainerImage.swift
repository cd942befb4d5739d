#if os(Linux)
import Foundation

/// A container image the function runs from, as Lambda runs a function whose package type is Image: its layers
/// flattened once into snapharness's image cache (`ImageStore`), the result becoming each environment's root, and
/// its config (ENTRYPOINT, CMD, ENV, WORKDIR, USER, labels) obeyed as Lambda obeys it.
public struct ContainerImage: Codable, Sendable, Equatable {
    /// What the user named: an OCI layout folder (`DIR` or `DIR:TAG`), an oci-archive or docker-archive tarball, or
    /// a reference skopeo copies in (`docker://`, `containers-storage:`).
    public var reference: String
    /// The image's identity: the digest of its config (what `docker images` calls the image id), which names every
    /// layer by digest. A snapshot records it; a restore refuses another image.
    public var id: String
    public var config: Config

    /// The image config's `config` object (the same keys in OCI and Docker images).
    public struct Config: Codable, Sendable, Equatable {
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var env: [String]?
        public var workingDir: String?
        public var user: String?
        public var labels: [String: String]?

        enum CodingKeys: String, CodingKey {
            case entrypoint = "Entrypoint", cmd = "Cmd", env = "Env", workingDir = "WorkingDir", user = "User"
            case labels = "Labels"
        }

        public init() {}
    }

    /// The label that opts an image that is not one of AWS's base images into SnapStart.
    public static let snapStartLabel = "com.amazonaws.lambda.feature.snapstart"

    /// The flattened root in the image cache.
    public var rootfs: String { ImageStore.rootfs(of: id) }

    public var environment: [String: String] {
        var env: [String: String] = [:]
        for entry in config.env ?? [] {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            env[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return env
    }

    /// AWS's base image for Python 3.12 or later: its entrypoint and the runtime's bootstrap, with Python in /var/lang.
    /// Lambda coordinates SnapStart's hooks for these as they are.
    public var isAWSPythonBaseImage: Bool {
        guard config.entrypoint == ["/lambda-entrypoint.sh"],
              FileManager.default.isExecutableFile(atPath: rootfs + "/var/runtime/bootstrap") else { return false }
        let bins = (try? FileManager.default.contentsOfDirectory(atPath: rootfs + "/var/lang/bin")) ?? []
        return bins.contains { name in
            guard name.hasPrefix("python3."), let minor = Int(name.dropFirst(8)) else { return false }
            return minor >= 12
        }
    }

    /// `LABEL com.amazonaws.lambda.feature.snapstart="Allow"`.
    public var allowsSnapStart: Bool { config.labels?[ContainerImage.snapStartLabel] == "Allow" }

    /// ENTRYPOINT + CMD, each replaced by the function's ImageConfig where it has one (as on Lambda).
    public func command(entryPoint: [String]? = nil, command: [String]? = nil) -> [String] {
        (entryPoint ?? config.entrypoint ?? []) + (command ?? config.cmd ?? [])
    }
}
#endif
