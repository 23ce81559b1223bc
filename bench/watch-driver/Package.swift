// swift-tools-version:6.2
// A small driver for bench/watch-scan.py: one FileWatcher over a generated tree, built in release mode
// against this checkout's SuperwatchCore.
import PackageDescription

let package = Package(
    name: "watch-driver",
    dependencies: [.package(name: "superwatch", path: "../..")],
    targets: [
        .executableTarget(
            name: "watch-driver",
            dependencies: [.product(name: "SuperwatchCore", package: "superwatch")]
        )
    ],
    swiftLanguageModes: [.v6]
)
