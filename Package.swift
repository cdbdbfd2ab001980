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
        .executable(name: "binlog-reconciler-bench", targets: ["BinlogReconcilerBench"]),
        .library(name: "BinlogParser", targets: ["BinlogParser"]),
        .library(name: "BinlogReconciler", targets: ["BinlogReconciler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The package's threads and hand-off queues (JoinableThread, BlockingQueue, StopSignal): used
        // by the parser's read-ahead, the live fetch thread and the daemon's Redis threads.
        .target(name: "ConcurrencyKit", swiftSettings: strict),
        .target(
            name: "BinlogParser",
            dependencies: ["CZstd", "CZlib", "ConcurrencyKit"],
            swiftSettings: strict
        ),
        // The transaction boundary rules of the binlog (BEGIN/COMMIT/XID, GTID groups, XA, DDL
        // targets), shared by the offline analyzer and the live tail; parser only, so the fuzzer
        // can build it.
        .target(name: "BinlogFold", dependencies: ["BinlogParser"], swiftSettings: strict),
        // The value types every part shares (transactions, binlog coordinates, GTID state, the
        // shadow map and key templates, secrets, configuration errors, output sinks).
        .target(name: "ReconcilerCore", dependencies: ["BinlogParser", "ConcurrencyKit"], swiftSettings: strict),
        // The Redis client: hiredis connections, pipelines, scripts, notifications, the watchdog.
        .target(
            name: "RedisClient",
            dependencies: [
                "ReconcilerCore", "CHiredis", "ConcurrencyKit", "BinlogParser",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The replication client: SQL connections and the binlog dump stream (libmariadb).
        .target(
            name: "ReplicationClient",
            dependencies: [
                "ReconcilerCore", "BinlogParser", "CMariaDB", "ConcurrencyKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The reconcile engine: verdicts (VerdictEngine), report records and their sinks.
        .target(
            name: "ReconcileEngine",
            dependencies: [
                "ReconcilerCore", "RedisClient", "BinlogParser", "ConcurrencyKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BinlogReconciler",
            dependencies: [
                "ReconcilerCore", "RedisClient", "ReplicationClient", "ReconcileEngine",
                "BinlogParser", "BinlogFold", "CMariaDB", "CHiredis", "CZstd", "ConcurrencyKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // The flash-sale simulator (`simulate`): test tooling, built on the library, never used by it.
        .target(
            name: "BinlogSimulator",
            dependencies: ["BinlogReconciler", "BinlogParser", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "BinlogReconcilerCLI",
            dependencies: [
                "BinlogReconciler", "BinlogParser", "BinlogSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The benchmarks (scripts/bench-*), a separate executable, not shipped in binlog-reconciler.
        .executableTarget(
            name: "BinlogReconcilerBench",
            dependencies: [
                "BinlogReconciler", "BinlogParser", "BinlogFold",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "BinlogParserTests", dependencies: ["BinlogParser", "CZstd"], swiftSettings: strict),
        .testTarget(name: "BinlogReconcilerTests", dependencies: ["BinlogReconciler", "BinlogParser", "BinlogFold", "BinlogSimulator"], swiftSettings: strict),
        .testTarget(name: "BinlogSimulatorTests", dependencies: ["BinlogSimulator", "BinlogReconciler"], swiftSettings: strict),
        .testTarget(name: "ConcurrencyKitTests", dependencies: ["ConcurrencyKit"], swiftSettings: strict),
    ]
)
