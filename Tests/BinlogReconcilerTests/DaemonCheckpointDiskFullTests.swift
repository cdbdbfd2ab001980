import Foundation
import Logging
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#endif

/// Issue 5, daemon level: the checkpoint directory is a tiny tmpfs that fills up. The daemon keeps
/// applying, logs the failure, /health answers 503 "checkpoints failing", the previous checkpoint
/// stays loadable; once space is freed the next checkpoint succeeds and /health is 200 again.
@Suite(.serialized) struct DaemonCheckpointDiskFullTests {
    @Test(.enabled(if: Tmpfs.permitted, "skipped: mount -t tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)"))
    func fullDiskFailsCheckpointsButNotTheDaemon() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 50)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        let dir = makeTempDirectory("daemon-full")
        defer { removeTree(dir) }
        #expect(mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") == 0)
        defer { umount(dir) }

        var config = try ReconcilerConfiguration.load(path: try DaemonCheckTests.config(db: db, prefix: prefix), environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        config.metrics.listen = "127.0.0.1:0"
        config.redis.notifications = .off
        config.checkpoint.directory = dir
        config.checkpoint.intervalSeconds = 0.2
        config.checkpoint.keep = 2
        let log = CapturedLog()
        let reportPath = dir + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: reportPath) }
        let daemon = ReconcilerDaemon(
            configuration: config, options: .init(), sink: try ReportSink(path: reportPath),
            logger: Logger(label: "disk-full-test") { _ in CapturingLogHandler(log) })
        let runner = TestThread {
            do { _ = try daemon.run() } catch { log.append("daemon.run threw: \(error)") }
        }
        defer {
            daemon.requestShutdown()
            runner.join()
        }
        func until(_ what: String, seconds: Double = 15, _ condition: () throws -> Bool) throws {
            let deadline = monotonicSeconds() + seconds
            while try !condition() {
                if monotonicSeconds() > deadline { throw TestFailure("timed out waiting for \(what); log: \(log.lines.suffix(15).joined(separator: "\n"))") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        func health() throws -> MetricsHTTPClient.Response {
            let port = try #require(daemon.metricsServer?.boundPort)
            return try MetricsHTTPClient.request("GET", "/health", port: port)
        }
        func stock(_ id: Int) -> ShadowValue? { daemon.shared.withLock { $0.shadow.maps[0][.int(Int64(id))] } }
        let store = try CheckpointStore(directory: dir, keep: 2)
        try until("the first checkpoint and the metrics server") { try store.loadNewestValid() != nil && daemon.metricsServer?.boundPort != nil }
        try until("/health 200") { try health().status == 200 }

        // Fill the tmpfs to the last byte.
        let filler = dir + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        let block = [UInt8](repeating: 0xAB, count: 4096)
        var filled = 0
        while true {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            filled += n
        }
        close(fd)
        #expect(filled > 0)
        let before = try #require(try store.loadNewestValid())

        // Checkpoints fail; the daemon keeps applying and reports it.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 1 WHERE id = 1")
        try until("the update to be applied") { stock(1) == .int(1) }
        try until("/health 503 with checkpoints failing") {
            let h = try health()
            return h.status == 503 && h.body.contains("checkpoints failing")
        }
        #expect(log.lines.contains { $0.contains("checkpoint failed") && $0.contains("No space left on device") }, "\(log.lines.suffix(10))")
        // Several failing rounds later it still runs and applies, and the old checkpoint loads.
        for i in 2...6 {
            _ = try TestEnv.sql("UPDATE \(db).products SET stock = \(i) WHERE id = \(i)")
            try until("update \(i) to be applied") { stock(i) == .int(Int64(i)) }
            Thread.sleep(forTimeInterval: 0.25)
            let still = try #require(try store.loadNewestValid())
            #expect(still.path == before.path && still.skipped.isEmpty)
            #expect(still.checkpoint.header.position == before.checkpoint.header.position)
        }
        #expect(try health().status == 503)
        let failures = daemon.metrics.render().split(separator: "\n").first { $0.hasPrefix("binlog_reconciler_checkpoint_failures_total") }
        #expect((failures.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0) >= 3, "\(failures ?? "absent")")
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: dir)).contains { $0.contains(".tmp.") }, "temporary files left behind")

        // Space back: the next checkpoint succeeds, holds the changes, and /health recovers.
        try FileManager.default.removeItem(atPath: filler)
        try until("a new checkpoint") { try store.loadNewestValid()?.path != before.path }
        try until("/health 200 again") { try health().status == 200 }
        let after = try #require(try store.loadNewestValid())
        let map = try #require(after.checkpoint.watch(named: "stock")).map
        for i in 1...6 { #expect(ShadowMap(map)[.int(Int64(i))] == .int(Int64(i))) }
        #expect(!log.lines.contains { $0.contains("daemon.run threw") || $0.contains("binlog tail stopped") })
    }
}
