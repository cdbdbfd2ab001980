import BinlogParser
import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// Two-phase XA against the real MariaDB while the sidecar tails it, each change mirrored in
/// Redis: the prepared changes are applied at XA COMMIT (never lost), discarded at XA ROLLBACK,
/// and nothing is reported. Then `analyze` over the same binlog files gives the same values.
@Suite(.serialized) struct XALiveTests {
    static func setUp() throws -> (db: String, prefix: String, config: ReconcilerConfiguration, path: String) {
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 20)
        let path = try SafetyTests.config(table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock")
        let config = try ReconcilerConfiguration.load(path: path, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        return (db, prefix, config, path)
    }

    /// `SELECT id, stock` as text.
    static func select(_ db: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try TestEnv.sql("SELECT id, IFNULL(stock, 'NULL') FROM \(db).products") { out[row[0]] = row[1] }
        return out
    }

    static func shadow(_ live: InProcessDaemon) -> [String: String] {
        var out: [String: String] = [:]
        live.daemon.shared.withLock { $0.shadow.maps[0].forEach { k, v in out[k.description] = v.redisText ?? "NULL" } }
        return out
    }

    /// Sets the Redis keys of `ids` to their MySQL values (the application's mirror).
    static func mirror(_ db: String, _ prefix: String, _ ids: [Int]) throws {
        let values = try select(db)
        for id in ids {
            if let v = values[String(id)] { _ = try SafetyTests.redis(["SET", "\(prefix):\(id):stock", v]) } else { _ = try SafetyTests.redis(["DEL", "\(prefix):\(id):stock"]) }
        }
    }

    @Test func twoPhaseXAIsAppliedAtCommitLiveAndOffline() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix, config, path) = try Self.setUp()
        defer {
            DaemonCheckTests.tearDown(db, prefix)
            try? FileManager.default.removeItem(atPath: path)
            _ = try? TestEnv.sql("SET GLOBAL log_bin_compress = OFF")
        }
        let firstFile = try #require(try TestEnv.sql("SHOW MASTER STATUS").first?.first)
        let report = path + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let live = try InProcessDaemon(config, report: report)
        defer { live.stop() }
        try live.waitFor("caught up", seconds: 30) { live.log.lines.contains { $0.contains("caught up") } }

        let p = "\(db).products"
        // 1. Commit right after prepare.
        _ = try TestEnv.sql("XA START 'xa1'; UPDATE \(p) SET stock = stock - 5 WHERE id = 1; XA END 'xa1'; XA PREPARE 'xa1'; XA COMMIT 'xa1';")
        try Self.mirror(db, prefix, [1])
        // 2. Rollback after prepare.
        _ = try TestEnv.sql("XA START 'xa2'; UPDATE \(p) SET stock = 0 WHERE id = 2; XA END 'xa2'; XA PREPARE 'xa2'; XA ROLLBACK 'xa2';")
        // 3. One phase.
        _ = try TestEnv.sql("XA START 'xa3'; UPDATE \(p) SET stock = stock - 3 WHERE id = 3; XA END 'xa3'; XA COMMIT 'xa3' ONE PHASE;")
        try Self.mirror(db, prefix, [3])
        // 4. Prepare; other transactions; commit from another connection. Redis shows the
        //    prepared value from the prepare on (a pre-deduct): no false alarm meanwhile.
        _ = try TestEnv.sql("XA START 'xa4'; UPDATE \(p) SET stock = stock - 7 WHERE id = 4; DELETE FROM \(p) WHERE id = 5; XA END 'xa4'; XA PREPARE 'xa4';")
        _ = try SafetyTests.redis(["SET", "\(prefix):4:stock", "97"])
        _ = try SafetyTests.redis(["DEL", "\(prefix):5:stock"])
        _ = try TestEnv.sql("UPDATE \(p) SET stock = stock + 1 WHERE id = 6; INSERT INTO \(p) VALUES (21, 'p21', 121);")
        try Self.mirror(db, prefix, [6, 21])
        try live.waitUntilApplied()
        #expect(live.daemon.shared.withLock { $0.shadow.heldXA.count } == 1)
        // Longer than G + L + C: the held value stays legitimate while prepared.
        Thread.sleep(forTimeInterval: 4.5)
        _ = try TestEnv.sql("XA COMMIT 'xa4';")
        // 5. The same with log_bin_compress=ON (MariaDB compressed events).
        _ = try TestEnv.sql("SET GLOBAL log_bin_compress = ON; SET GLOBAL log_bin_compress_min_len = 10;")
        _ = try TestEnv.sql("XA START 'xa5'; UPDATE \(p) SET stock = stock - 11, name = REPEAT('x', 20) WHERE id BETWEEN 7 AND 9; XA END 'xa5'; XA PREPARE 'xa5';")
        _ = try TestEnv.sql("XA COMMIT 'xa5';")
        try Self.mirror(db, prefix, [7, 8, 9])
        _ = try TestEnv.sql("SET GLOBAL log_bin_compress = OFF")
        try live.waitUntilApplied()
        #expect(live.daemon.shared.withLock { $0.shadow.heldXA.count } == 0)
        let expected = try Self.select(db)
        #expect(Self.shadow(live) == expected)
        #expect(expected["1"] == "96" && expected["2"] == "102" && expected["3"] == "100" && expected["4"] == "97" && expected["5"] == nil)
        // Sweeps every second: nothing is reported.
        Thread.sleep(forTimeInterval: 4)
        #expect(!live.records(report).contains { $0["event"] as? String == "divergence" }, "\(live.records(report))")
        live.stop()

        // Offline: analyze over the files written meanwhile gives SELECT's values for what changed.
        _ = try TestEnv.sql("FLUSH BINARY LOGS")
        let files = try TestEnv.sql("SHOW BINARY LOGS").map { $0[0] }.filter { $0 >= firstFile }.sorted()
        var analyzer = BinlogAnalyzer(options: .init(table: p, keyColumns: ["id"], valueColumn: "stock"))
        for f in files { try analyzer.replay(path: TestEnv.mariadbDataDir + "/" + f) }
        analyzer.finish()
        var offline: [String: String] = [:]
        for (k, e) in analyzer.sortedState() { offline[analyzer.keyText(k)] = ShadowValue(e.value).description }
        for id in ["1", "2", "3", "4", "6", "7", "8", "9", "21"] { #expect(offline[id] == expected[id], "key \(id)") }
        #expect(offline["5"] == nil)
        #expect(analyzer.warnings.isEmpty, "\(analyzer.warnings)")
    }

    @Test func aPreparedTransactionAtBootstrapIsWaitedFor() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix, config, path) = try Self.setUp()
        defer {
            _ = try? TestEnv.sql("XA ROLLBACK 'xab'")
            DaemonCheckTests.tearDown(db, prefix)
            try? FileManager.default.removeItem(atPath: path)
        }
        // Prepared on a connection that then goes away (it stays prepared, MariaDB 10.5+).
        _ = try TestEnv.sql("XA START 'xab'; UPDATE \(db).products SET stock = 1 WHERE id = 10; XA END 'xab'; XA PREPARE 'xab';")
        let report = path + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let live = try InProcessDaemon(config, report: report)
        defer { live.stop() }
        try live.waitFor("the wait", seconds: 20) { live.log.lines.contains { $0.contains("waiting for prepared XA transactions") } }
        Thread.sleep(forTimeInterval: 1)
        _ = try TestEnv.sql("XA COMMIT 'xab'")
        _ = try SafetyTests.redis(["SET", "\(prefix):10:stock", "1"])
        try live.waitFor("caught up", seconds: 30) { live.log.lines.contains { $0.contains("caught up") } }
        try live.waitUntilApplied()
        #expect(Self.shadow(live) == (try Self.select(db)))
        #expect(Self.shadow(live)["10"] == "1")
    }

    @Test func aPreparedTransactionSurvivesAKillNineOfTheSidecar() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 20)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-xa-kill-\(prefix)").path
        let path = try SafetyTests.config(
            table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock", checkpoint: "[checkpoint]\ndirectory = \"\(dir)\"\ninterval_seconds = 0.2")
        defer {
            _ = try? TestEnv.sql("XA ROLLBACK 'xak'")
            DaemonCheckTests.tearDown(db, prefix)
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: dir)
        }
        let out = path + ".out", err = path + ".err"
        defer { for f in [out, err] { try? FileManager.default.removeItem(atPath: f) } }
        func start() throws -> Process {
            FileManager.default.createFile(atPath: out, contents: nil)
            FileManager.default.createFile(atPath: err, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.cli)
            p.arguments = ["run", "--config", path]
            var env = ProcessInfo.processInfo.environment
            env["BR_TEST_MYSQL_PASSWORD"] = "reconciler"
            p.environment = env
            p.standardOutput = FileHandle(forWritingAtPath: out)
            p.standardError = FileHandle(forWritingAtPath: err)
            try p.run()
            return p
        }
        func log() -> String { (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }
        func waitFor(_ what: String, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(30)
            while !condition() {
                if Date() > deadline { throw TestFailure("timed out waiting for \(what): \(log().suffix(2000))") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let first = try start()
        try waitFor("caught up") { log().contains("caught up") }
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 50 WHERE id = 11")
        _ = try SafetyTests.redis(["SET", "\(prefix):11:stock", "50"])
        Thread.sleep(forTimeInterval: 1)  // a checkpoint after that change
        _ = try TestEnv.sql("XA START 'xak'; UPDATE \(db).products SET stock = stock - 9 WHERE id = 12; XA END 'xak'; XA PREPARE 'xak';")
        Thread.sleep(forTimeInterval: 1.5)  // applied and held, and checkpointed with the held change
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        // The newest checkpoint was taken while 'xak' was prepared: it records the held change
        // (format version 2), so the resume needs no binlog before the prepare.
        let atKill = try #require(try CheckpointStore(directory: dir).list().first)
        let held = try CheckpointFile.summary(path: atKill.path)
        #expect(held.formatVersion == 2)
        #expect(held.heldXA.count == 1)
        #expect(held.heldXA.first?.xid.contains("78616b") == true, "\(held.heldXA)")
        #expect(held.heldXA.first?.changes == [CheckpointHeldChange(watch: "w", key: .int(12), new: .int(103))], "\(held.heldXA)")
        let heldLines = try TestEnv.run(TestEnv.cli, ["checkpoint", "inspect", atKill.path, "--values"]).stdout
        #expect(heldLines.contains("\"xa_prepared\":[{\"xid\":"), "\(heldLines.prefix(800))")
        #expect(heldLines.contains("\"xa_held\":"), "\(heldLines.suffix(300))")
        _ = try TestEnv.sql("XA COMMIT 'xak'")
        _ = try SafetyTests.redis(["SET", "\(prefix):12:stock", "103"])
        let second = try start()
        defer { if second.isRunning { second.terminate() } }
        try waitFor("resume") { log().contains("resuming from checkpoint") }
        try waitFor("caught up") { log().contains("caught up") }
        Thread.sleep(forTimeInterval: 3)
        second.terminate()
        second.waitUntilExit()
        #expect(second.terminationStatus == 0, "\(log().suffix(2000))")
        #expect(!log().contains("was not seen"), "\(log().suffix(2000))")
        // The final checkpoint holds SELECT's values.
        let newest = try #require(try CheckpointStore(directory: dir).list().first)
        #expect(try CheckpointFile.summary(path: newest.path).heldXA.isEmpty)
        let inspect = try TestEnv.run(TestEnv.cli, ["checkpoint", "inspect", newest.path, "--values"])
        var values: [String: String] = [:]
        for line in inspect.stdout.split(separator: "\n").dropFirst() {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["xa_held"] == nil else { continue }
            values["\(o["key"] ?? "")"] = "\(o["value"] ?? "NULL")"
        }
        #expect(values == (try XALiveTests.select(db)), "\(inspect.stdout.prefix(500))")
        #expect(values["12"] == "103")
        let reported = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("\"divergence\"")
        #expect(!reported)
    }

    @Test func aPreparedTransactionCommittedAfterAServerRestartIsApplied() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix, config, path) = try Self.setUp()
        defer {
            _ = try? TestEnv.sql("XA ROLLBACK 'xar'")
            DaemonCheckTests.tearDown(db, prefix)
            try? FileManager.default.removeItem(atPath: path)
        }
        let report = path + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let live = try InProcessDaemon(config, report: report)
        defer { live.stop() }
        try live.waitFor("caught up", seconds: 30) { live.log.lines.contains { $0.contains("caught up") } }
        _ = try TestEnv.sql("XA START 'xar'; UPDATE \(db).products SET stock = stock - 4 WHERE id = 13; XA END 'xar'; XA PREPARE 'xar';")
        try live.waitUntilApplied()
        #expect(live.daemon.shared.withLock { $0.shadow.heldXA.count } == 1)
        // The server restarts with the transaction prepared (it survives, MariaDB 10.5+); the tail
        // reconnects from its last position; the XA COMMIT comes after.
        #expect(DaemonLiveWorkloadTests().restartMariaDB() == 0)
        let recovered = try TestEnv.sql("XA RECOVER").map { $0.count >= 4 ? $0[3] : "" }
        #expect(recovered.contains("xar"), "\(recovered)")
        _ = try TestEnv.sql("XA COMMIT 'xar'")
        _ = try SafetyTests.redis(["SET", "\(prefix):13:stock", "109"])
        try live.waitFor("the commit", seconds: 40) { Self.shadow(live)["13"] == "109" }
        try live.waitUntilApplied()
        #expect(Self.shadow(live) == (try Self.select(db)))
        #expect(live.daemon.shared.withLock { $0.shadow.heldXA.count } == 0)
        #expect(!live.log.lines.contains { $0.contains("was not seen") })
    }
}
