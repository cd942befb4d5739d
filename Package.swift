// swift-tools-version: 6.0
import PackageDescription

// libcriu comes from the CRIU that `make deps` provisions (pkg-config `criu`); the Makefile points
// PKG_CONFIG_PATH and an rpath at it so the build never links Debian bookworm's incompatible 3.17 library.
let package = Package(
    name: "snapharness",
    products: [
        .executable(name: "snapharness", targets: ["snapharness"]),
        .library(name: "SnapHarnessEngine", targets: ["SnapHarnessEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    // The data path, one target a layer (README "Targets"):
    //   SnapHarnessProtocol  the control channel's messages and framing, shared with the Python agent; no dependencies
    //   SnapHarnessEngine    handler dir -> sandbox -> control channel -> checkpoint -> snapshot -> restore -> invoke
    //   SnapHarnessTools     check, bench, soak, doctor: built on the engine's public API only
    //   SnapHarnessServe     Lambda's Invoke API over HTTP (Hummingbird)
    //   snapharness          the command line: parses, calls the above, maps errors to messages and exit codes
    targets: [
        .systemLibrary(name: "CCriu", pkgConfig: "criu", providers: [.apt(["libprotobuf-c-dev"])]),
        // -O2 even in debug builds: the image digest runs over every snapshot's images.
        .target(name: "CSandbox", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "SnapHarnessProtocol"),
        // Runtime/ holds what runs inside the environment (the Python agent, snapharness-init's C source): read from
        // the checkout or an install prefix, never compiled into the executable.
        .target(name: "SnapHarnessEngine",
                dependencies: ["CCriu", "CSandbox", "SnapHarnessProtocol", .product(name: "Yams", package: "Yams")],
                exclude: ["Runtime"]),
        .target(name: "SnapHarnessTools", dependencies: ["SnapHarnessEngine"]),
        .target(name: "SnapHarnessServe", dependencies: [
            // SnapHarnessTools: bench --serve reports with bench's statistics.
            "SnapHarnessEngine", "SnapHarnessTools", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
            // NIOThreadPool for the blocking engine calls; the service group the server, fleets and workers run in.
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(
            name: "snapharness",
            dependencies: ["SnapHarnessEngine", "SnapHarnessTools", "SnapHarnessServe",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "SnapHarnessTests",
                    dependencies: ["SnapHarnessProtocol", "SnapHarnessEngine", "SnapHarnessTools", "SnapHarnessServe",
                                   "CSandbox"]),
    ],
    swiftLanguageModes: [.v6]
)
