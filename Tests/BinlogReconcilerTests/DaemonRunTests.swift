import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// `binlog-reconciler run` as a live sidecar: a Redis-side fault made while it tails is reported
/// within seconds; consistent changes on both sides are not; /metrics answers; SIGTERM stops it.
@Suite(.serialized) struct DaemonRunTests {
    @Test func liveFaultIsReportedAndTheDaemonStopsOnSIGTERM() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 20)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        var config = try String(contentsOfFile: try DaemonCheckTests.config(db: db, prefix: prefix), encoding: .utf8)
        let metricsPort = Int.random(in: 20000...29999)
        config = config.replacingOccurrences(of: "listen = \"\"", with: "listen = \"127.0.0.1:\(metricsPort)\"")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-run-\(prefix).toml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let outPath = path + ".out", errPath = path + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { for p in [path, outPath, errPath] { try? FileManager.default.removeItem(atPath: p) } }

        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnv.cli)
        p.arguments = ["run", "--config", path]
        var env = ProcessInfo.processInfo.environment
        env["BR_TEST_MYSQL_PASSWORD"] = "reconciler"
        p.environment = env
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        defer { if p.isRunning { p.terminate() } }

        func stderrText() -> String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        func records() -> [[String: Any]] {
            ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while !stderrText().contains("caught up") && Date() < deadline && p.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        #expect(stderrText().contains("caught up"), "\(stderrText().suffix(2000))")

        // Consistent: an order on both sides. Fault: Redis key 4 set wrong while MySQL is quiet.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock - 1 WHERE id = 6")
        _ = try DaemonCheckTests.redis(["DECR", "\(prefix):6:stock"])
        _ = try DaemonCheckTests.redis(["SET", "\(prefix):4:stock", "555"])
        let faultAt = Date()
        var found: [String: Any]?
        while Date() < faultAt.addingTimeInterval(15) && found == nil {
            found = records().first { $0["event"] as? String == "divergence" }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let latency = Date().timeIntervalSince(faultAt)
        #expect(found?["key"] as? String == "4", "\(records()) \(stderrText().suffix(2000))")
        #expect(found?["kind"] as? String == "redis_higher")
        #expect(latency < 8, "reported \(latency) s after the fault (C + L = 3 s with a notification)")

        // /metrics and /health on the configured loopback port.
        let metrics = try TestEnv.run("bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(metricsPort); printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3"])
        #expect(metrics.stdout.contains("binlog_reconciler_transactions_applied_total"), "\(metrics.stdout.prefix(500))")

        // Fix Redis: the divergence resolves.
        _ = try DaemonCheckTests.redis(["SET", "\(prefix):4:stock", "104"])
        let fixAt = Date()
        while Date() < fixAt.addingTimeInterval(15) && !records().contains(where: { $0["event"] as? String == "resolved" }) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(records().contains { $0["event"] as? String == "resolved" && $0["key"] as? String == "4" })
        #expect(records().filter { $0["event"] as? String == "divergence" }.count == 1, "\(records())")

        p.terminate()  // SIGTERM
        let stopDeadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < stopDeadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!p.isRunning, "the daemon did not stop on SIGTERM")
        if !p.isRunning { #expect(p.terminationStatus == 0, "\(stderrText().suffix(2000))") }
    }
}
