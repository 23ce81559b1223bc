// swift-tools-version:6.2
import PackageDescription

// superwatch runs on Linux only: it is built on pidfds, clone3, epoll, inotify, prctl and cgroup v2, which other
// systems do not have (the C shim stops the build elsewhere with #error). SwiftPM has no way to declare "Linux
// only", so no `platforms:` are listed rather than an Apple platform it cannot run on.
let package = Package(
    name: "superwatch",
    products: [
        .executable(name: "superwatch", targets: ["superwatch"]),
        .library(name: "SuperwatchCore", targets: ["SuperwatchCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The control API's HTTP server (README, design notes); its default traits pull in swift-configuration and
        // full Foundation, which superwatch does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // The control client's HTTP/1 codec and Unix-socket channel (already in the graph through Hummingbird).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The control API's graceful shutdown (already in the graph through Hummingbird).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The only C in the project: what Glibc does not expose to Swift (clone3/fork and exec with
        // setsid and inherited sockets, prctl, pidfd, pipe sizing). Every symbol is prefixed `sw_`.
        .target(name: "CSuperwatchShim"),
        .target(
            name: "SuperwatchCore",
            dependencies: [
                "CSuperwatchShim",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The Python superwatch runs (Python/*.py), embedded in the binary at build time.
            plugins: ["EmbedPython"]
        ),
        .plugin(name: "EmbedPython", capability: .buildTool(), dependencies: ["embed-python"]),
        .executableTarget(name: "embed-python", path: "Plugins/EmbedPythonTool"),
        .executableTarget(
            name: "superwatch",
            dependencies: [
                "SuperwatchCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "SuperwatchTestSupport", dependencies: ["SuperwatchCore"], path: "Tests/SuperwatchTestSupport"),
        // The fuzz target for the config, Procfile and env-file readers: fuzz/run.sh builds it with libFuzzer;
        // a plain build replays inputs (`superwatch-fuzz config FILE...`).
        .executableTarget(name: "superwatch-fuzz", dependencies: ["SuperwatchTestSupport"], path: "fuzz/Sources"),
        .testTarget(
            name: "SuperwatchCoreTests",
            // Yams: the examples are converted to JSON to be checked against the JSON Schema.
            dependencies: ["SuperwatchCore", "SuperwatchTestSupport", .product(name: "Yams", package: "Yams")]
        ),
        .testTarget(
            name: "SuperwatchEndToEndTests",
            // SuperwatchCore: the control CLI's tests serve a test double with the real server.
            dependencies: ["SuperwatchCore", "SuperwatchTestSupport", "superwatch"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
