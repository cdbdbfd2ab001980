// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "binlog-reconciler",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "binlog-reconciler", targets: ["BinlogReconcilerCLI"]),
        .library(name: "BinlogParser", targets: ["BinlogParser"]),
        .library(name: "BinlogReconciler", targets: ["BinlogReconciler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "BinlogParser",
            dependencies: ["CZstd", "CZlib"],
            swiftSettings: strict + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "BinlogReconciler",
            dependencies: [
                "BinlogParser", "CMariaDB", "CHiredis", "CZstd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "BinlogReconcilerCLI",
            dependencies: [
                "BinlogReconciler", "BinlogParser",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "BinlogParserTests", dependencies: ["BinlogParser", "CZstd"], swiftSettings: strict),
        .testTarget(name: "BinlogReconcilerTests", dependencies: ["BinlogReconciler", "BinlogParser"], swiftSettings: strict),
    ]
)
