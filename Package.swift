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
            dependencies: ["SuperwatchTestSupport", "superwatch"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
