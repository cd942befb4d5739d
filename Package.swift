// swift-tools-version: 6.0
import PackageDescription

// libcriu comes from the CRIU that `make deps` provisions (pkg-config `criu`); the Makefile points
// PKG_CONFIG_PATH and an rpath at it so the build never links Debian bookworm's incompatible 3.17 library.
let package = Package(
    name: "snapharness",
    products: [
        .executable(name: "snapharness", targets: ["snapharness"]),
        .library(name: "SnapHarness", targets: ["SnapHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CCriu", pkgConfig: "criu", providers: [.apt(["libprotobuf-c-dev"])]),
        // -O2 even in debug builds: the image digest runs over every snapshot's images.
        .target(name: "CSandbox", cSettings: [.unsafeFlags(["-O2"])]),
        // Runtime/python is the agent the function process runs; it is read from the checkout, not compiled.
        .target(name: "SnapHarness", dependencies: ["CCriu", "CSandbox"], exclude: ["Runtime"]),
        .executableTarget(
            name: "snapharness",
            dependencies: ["SnapHarness", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "SnapHarnessTests", dependencies: ["SnapHarness", "CSandbox"]),
    ],
    swiftLanguageModes: [.v6]
)
