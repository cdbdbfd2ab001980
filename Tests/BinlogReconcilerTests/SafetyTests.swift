import BinlogFold
import BinlogParser
import Foundation
import Logging
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// "Never harm the shop": repairs and the orphan scan work from row keys (VARCHAR and composite
/// keys are repaired, never deleted), DDL on other tables leaves the shadow map whole, skipped and
/// restored divergences are repaired, `check` repairs only with --repair, private file modes, and
/// linear apply of a large MINIMAL-image transaction. Real MariaDB and Redis.
@Suite(.serialized) struct SafetyTests {
    static let redisPort = DaemonCheckTests.redisPort

    static func redis(_ args: [String]) throws -> String { try DaemonCheckTests.redis(args) }

    static func get(_ key: String) throws -> String { try redis(["GET", key]).trimmingCharacters(in: .whitespacesAndNewlines) }

    static func exists(_ key: String) throws -> Bool { try redis(["EXISTS", key]).trimmingCharacters(in: .whitespacesAndNewlines) == "1" }

    /// A configuration for one watch, written to a temporary file.
    static func config(table: String, key: String, value: String = "stock", redisKey: String, extraWatch: String = "", reconcile: String = "", checkpoint: String = "") throws -> String {
        let toml = """
            [source]
            host = "127.0.0.1"
            port = \(DaemonCheckTests.mysqlPort)
            user = "reconciler"
            password_env = "BR_TEST_MYSQL_PASSWORD"
            server_id = \(Int.random(in: 1000...60000))

            [redis]
            host = "127.0.0.1"
            port = \(redisPort)
            notifications = "off"

            [[watch]]
            name = "w"
            table = "\(table)"
            key = \(key.contains(",") ? "[" + key.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", ") + "]" : "\"\(key)\"")
            value = "\(value)"
            redis_key = "\(redisKey)"
            \(extraWatch)

            [reconcile]
            sweep_interval_seconds = 1
            \(reconcile)

            \(checkpoint)

            [metrics]
            listen = ""
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-safety-\(UInt32.random(in: 0...UInt32.max)).toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func check(_ path: String, _ extra: [String] = []) throws -> (status: Int32, records: [[String: Any]], stderr: String) {
        let r = try TestEnv.run(TestEnv.cli, ["check", "--config", path, "--timeout", "60"] + extra, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        let records = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (r.status, records, r.stderr)
    }

    static func cleanup(_ db: String, _ prefix: String) {
        _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(db)")
        _ = try? TestEnv.run("sh", ["-c", "redis-cli -p \(redisPort) --scan --pattern '\(prefix):*' | xargs -r redis-cli -p \(redisPort) DEL"])
    }

    // MARK: - Repair and orphans from row keys

    @Test func varcharKeysAreRepairedAndCorrectKeysAreNeverDeleted() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "safety_\(n)", prefix = "sku\(n)"
        defer { Self.cleanup(db, prefix) }
        _ = try TestEnv.sql("""
            CREATE DATABASE \(db); CREATE TABLE \(db).sku (code VARCHAR(20) PRIMARY KEY, stock INT) ENGINE=InnoDB;
            INSERT INTO \(db).sku VALUES ('1001', 5), ('1002', 7), ('0042', 3);
            """)
        _ = try Self.redis(["MSET", "\(prefix):1001", "99", "\(prefix):1002", "7", "\(prefix):0042", "3", "\(prefix):9999", "1"])
        let path = try Self.config(table: "\(db).sku", key: "code", redisKey: "\(prefix):{code}", extraWatch: "scan_orphans = true")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Self.check(path, ["--repair"])
        let repaired = r.records.filter { $0["event"] as? String == "repaired" }
        // The wrong value is written back (not deleted); the real orphan (no row '9999') is deleted.
        #expect(try Self.get("\(prefix):1001") == "5", "\(r.records) \(r.stderr.suffix(2000))")
        #expect(repaired.contains { $0["key"] as? String == "1001" && $0["expected"] as? String == "5" && $0["redis"] as? String == "99" })
        #expect(try !Self.exists("\(prefix):9999"))
        #expect(repaired.contains { $0["key"] as? String == "9999" })
        // Correct keys, including one that looks like an integer with a leading zero, stay.
        #expect(try Self.get("\(prefix):1002") == "7")
        #expect(try Self.get("\(prefix):0042") == "3")
        #expect(!r.records.contains { ($0["key"] as? String) == "1002" || ($0["key"] as? String) == "0042" }, "\(r.records)")
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")
    }

    @Test func compositeKeysWithTheSeparatorInsideAreRepairedToTheirRowAndAmbiguousOrphansAreOnlyReported() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "safety_\(n)", prefix = "inv\(n)"
        defer { Self.cleanup(db, prefix) }
        _ = try TestEnv.sql("""
            CREATE DATABASE \(db); CREATE TABLE \(db).inv (a VARCHAR(10), b VARCHAR(10), stock INT, PRIMARY KEY (a, b)) ENGINE=InnoDB;
            INSERT INTO \(db).inv VALUES ('x:y', 'z', 5), ('p', 'q', 1);
            """)
        // inv:x:y:z is row ('x:y','z') with a wrong value; inv:m:n:o has no row under either
        // reading ('m','n:o') or ('m:n','o').
        _ = try Self.redis(["MSET", "\(prefix):x:y:z", "9", "\(prefix):p:q", "1", "\(prefix):m:n:o", "4"])
        let path = try Self.config(table: "\(db).inv", key: "a,b", redisKey: "\(prefix):{a}:{b}", extraWatch: "scan_orphans = true")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Self.check(path, ["--repair"])
        #expect(try Self.get("\(prefix):x:y:z") == "5", "\(r.records) \(r.stderr.suffix(2000))")
        #expect(try Self.get("\(prefix):p:q") == "1")
        // The ambiguous orphan is reported, never deleted.
        #expect(try Self.get("\(prefix):m:n:o") == "4")
        #expect(r.records.contains { $0["event"] as? String == "divergence" && $0["redis_key"] as? String == "\(prefix):m:n:o" && $0["kind"] as? String == "orphan" }, "\(r.records)")
        #expect(!r.records.contains { $0["event"] as? String == "repaired" && $0["redis_key"] as? String == "\(prefix):m:n:o" })
        #expect(r.status == 1)
    }

    @Test func keyNamesMapBackOnlyToRowKeysThatRenderExactly() throws {
        let single = try RedisKeyTemplate("sku:{code}", keyColumns: ["code"])
        #expect(single.candidates("sku:1001", integerColumns: [false]) == [.text("1001")])
        #expect(single.candidates("sku:1001", integerColumns: [true]) == [.int(1001)])
        #expect(single.candidates("sku:0042", integerColumns: [true]) == [])
        #expect(single.candidates("sku:1001", integerColumns: nil) == [.int(1001), .text("1001")])
        #expect(single.candidates("sku:18446744073709551615", integerColumns: [true]) == [.text("18446744073709551615")])
        #expect(single.candidates("other:1", integerColumns: [true]) == [])
        let composite = try RedisKeyTemplate("inv:{a}:{b}", keyColumns: ["a", "b"])
        #expect(composite.candidates("inv:x:y:z", integerColumns: [false, false]) == [.composite(["x", "y:z"]), .composite(["x:y", "z"])])
        #expect(composite.candidates("inv:7:y", integerColumns: [true, false]) == [.composite(["7", "y"])])
        #expect(composite.candidates("inv:x:7", integerColumns: [true, false]) == [])
        // A hash key that names only some key columns (the rest are in the field) gives no row key.
        let hashKey = try RedisKeyTemplate("shop:{shop_id}", keyColumns: ["shop_id", "sku"])
        #expect(hashKey.candidates("shop:7", integerColumns: [true, false], keyColumnCount: 2) == [])
        #expect(composite.candidates("inv:x:y", integerColumns: [false, false], keyColumnCount: 2) == [.composite(["x", "y"])])
        let repeated = try RedisKeyTemplate("{id}:{id}", keyColumns: ["id"])
        #expect(repeated.candidates("5:5", integerColumns: [true]) == [.int(5)])
        #expect(repeated.candidates("5:6", integerColumns: [true]) == [])
        for key: ShadowKey in [.int(-3), .text("a:b"), .composite(["a:", ":b"])] {
            let t = key == .composite(["a:", ":b"]) ? composite : single
            #expect(t.candidates(t.render(key), integerColumns: nil).contains(key))
        }
    }

    // MARK: - Repair policy

    @Test func repairsSkippedByTheRateLimitAreRetriedAndSlowRatesStillRepair() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 10)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        for id in 2...5 { _ = try Self.redis(["SET", "\(prefix):\(id):stock", "1"]) }
        let path = try Self.config(table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock", reconcile: "repair_per_second = 1")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Self.check(path, ["--repair"])
        let repaired = Set(r.records.filter { $0["event"] as? String == "repaired" }.compactMap { $0["key"] as? String })
        #expect(repaired == ["2", "3", "4", "5"], "\(r.records) \(r.stderr.suffix(2000))")
        for id in 2...5 { #expect(try Self.get("\(prefix):\(id):stock") == String(100 + id)) }

        // A rate below 1/s is one repair every 1/rate s, not none; 0 is refused.
        _ = try Self.redis(["SET", "\(prefix):7:stock", "1"])
        let slow = try Self.config(table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock", reconcile: "repair_per_second = 0.5")
        defer { try? FileManager.default.removeItem(atPath: slow) }
        let s = try Self.check(slow, ["--repair"])
        #expect(try Self.get("\(prefix):7:stock") == "107", "\(s.records) \(s.stderr.suffix(2000))")
        let zero = try Self.config(table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock", reconcile: "repair_per_second = 0")
        defer { try? FileManager.default.removeItem(atPath: zero) }
        let z = try Self.check(zero, ["--repair"])
        #expect(z.status == 2)
        #expect(z.stderr.contains("repair_per_second must be above 0"), "\(z.stderr)")
    }

    @Test func aDivergenceRestoredFromACheckpointIsRepaired() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 10)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-restore-\(prefix)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.config(
            table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock", reconcile: "repair = true\nrepair_dry_run = true",
            checkpoint: "[checkpoint]\ndirectory = \"\(dir)\"\ninterval_seconds = 1")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var config = try ReconcilerConfiguration.load(path: path, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        _ = try Self.redis(["SET", "\(prefix):3:stock", "1"])

        // 1. Dry run: the divergence is reported and checkpointed, nothing written.
        let report1 = dir + ".1.jsonl"
        defer { try? FileManager.default.removeItem(atPath: report1) }
        let first = try InProcessDaemon(config, report: report1)
        try first.waitFor("the divergence", seconds: 30) { first.records(report1).contains { $0["event"] as? String == "divergence" && $0["key"] as? String == "3" } }
        first.stop()
        #expect(try Self.get("\(prefix):3:stock") == "1")
        #expect(first.log.lines.contains { $0.contains("dry run: would repair") }, "\(first.log.lines.suffix(20))")

        // 2. From the checkpoint, with repair: the restored divergence is repaired.
        config.reconcile.repairDryRun = false
        let report2 = dir + ".2.jsonl"
        defer { try? FileManager.default.removeItem(atPath: report2) }
        let second = try InProcessDaemon(config, report: report2)
        defer { second.stop() }
        try second.waitFor("the repair", seconds: 30) { (try? Self.get("\(prefix):3:stock")) == "103" }
        #expect(second.log.lines.contains { $0.contains("resuming from checkpoint") })
        try second.waitFor("the repaired record", seconds: 10) { second.records(report2).contains { $0["event"] as? String == "repaired" && $0["key"] as? String == "3" } }
        #expect(!second.records(report2).contains { $0["event"] as? String == "divergence" }, "restored, not reported again")
    }

    // MARK: - DDL identity

    @Test func ddlOnOtherTablesLeavesTheShadowMapWhole() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 20)
        let other = db + "_other"
        defer {
            DaemonCheckTests.tearDown(db, prefix)
            _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(other)")
        }
        _ = try TestEnv.sql("""
            CREATE TABLE \(db).products_log (id INT PRIMARY KEY, note VARCHAR(10)); INSERT INTO \(db).products_log VALUES (1, 'a');
            CREATE DATABASE \(other); CREATE TABLE \(other).products (id INT PRIMARY KEY, stock INT); CREATE TABLE \(other).products2 (id INT PRIMARY KEY);
            """)
        let path = try Self.config(table: "\(db).products", key: "id", redisKey: "\(prefix):{id}:stock", extraWatch: "scan_orphans = true", reconcile: "repair = true")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try ReconcilerConfiguration.load(path: path, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        let report = path + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let live = try InProcessDaemon(config, report: report)
        defer { live.stop() }
        try live.waitFor("caught up", seconds: 30) { live.log.lines.contains { $0.contains("caught up") } }

        _ = try TestEnv.sql("TRUNCATE TABLE \(db).products_log")
        _ = try TestEnv.sql("USE \(db); DROP TABLE \(other).products")
        _ = try TestEnv.sql("USE \(other); RENAME TABLE products2 TO products")
        _ = try TestEnv.sql("USE \(db); ALTER TABLE products_log RENAME TO products_log2")
        _ = try TestEnv.sql("USE \(db); DROP TABLE IF EXISTS `products_log2` /* generated by server */")
        try live.waitUntilApplied()
        // Sweeps every second with orphan scans and repair on: nothing is reported or deleted.
        Thread.sleep(forTimeInterval: 4)
        #expect(live.shadowCount() == 20)
        #expect(!live.records(report).contains { $0["event"] as? String == "divergence" || $0["event"] as? String == "repaired" }, "\(live.records(report))")
        for id in 1...20 { #expect(try Self.get("\(prefix):\(id):stock") == String(100 + id)) }

        // The watched table's own TRUNCATE empties it (Redis is emptied by the application).
        _ = try Self.redis(["DEL"] + (1...20).map { "\(prefix):\($0):stock" })
        _ = try TestEnv.sql("TRUNCATE TABLE \(db).products")
        try live.waitUntilApplied()
        #expect(live.shadowCount() == 0)
    }

    @Test func ddlTargetsAreReadExactly() {
        func e(_ sql: String, _ db: String = "shop") -> [DDLEffect]? { DDLStatement.effects(of: sql, defaultDatabase: db) }
        let products = TableIdentity(database: "shop", table: "products")
        #expect(e("TRUNCATE TABLE shop.products_log") == [.truncate(TableIdentity(database: "shop", table: "products_log"))])
        #expect(e("truncate products") == [.truncate(products)])
        #expect(e("DROP TABLE other.products") == [.drop(TableIdentity(database: "other", table: "products"))])
        #expect(e("DROP TABLE IF EXISTS `products`,`a``b` /* generated by server */") == [.drop(products), .drop(TableIdentity(database: "shop", table: "a`b"))])
        #expect(e("DROP TEMPORARY TABLE products") == [])
        #expect(e("DROP DATABASE IF EXISTS `shop`") == [.dropDatabase("shop")])
        #expect(e("RENAME TABLE products TO products_old, products_new TO products") == [
            .rename(from: products, to: TableIdentity(database: "shop", table: "products_old")),
            .rename(from: TableIdentity(database: "shop", table: "products_new"), to: products),
        ])
        #expect(e("ALTER TABLE products RENAME COLUMN stock TO qty") == [.alter(products)])
        #expect(e("ALTER TABLE shop.products ADD COLUMN x INT, RENAME TO archive.products") == [.alter(products), .rename(from: products, to: TableIdentity(database: "archive", table: "products"))])
        #expect(e("ALTER TABLE products TRUNCATE PARTITION p0") == [.alter(products), .contentsUnknown(products)])
        #expect(e("ALTER TABLE products EXCHANGE PARTITION p0 WITH TABLE shop.staging") == [.alter(products), .contentsUnknown(products), .contentsUnknown(TableIdentity(database: "shop", table: "staging"))])
        #expect(e("CREATE OR REPLACE TABLE products (id INT)") == [.create(products, replace: true)])
        #expect(e("CREATE TABLE IF NOT EXISTS products (id INT)") == [.create(products, replace: false)])
        #expect(e("CREATE INDEX i ON products (stock)") == [.alter(products)])
        #expect(e("/* a comment */ TRUNCATE -- x\n TABLE # y\n products") == [.truncate(products)])
        #expect(e("/*!40000 TRUNCATE TABLE products */") == [.truncate(products)])
        #expect(e("INSERT INTO products VALUES (1)") == [])
        #expect(e("DROP VIEW products_view") == [])
        // Unqualified without a default database, or unreadable: nil (logged, not acted on).
        #expect(e("TRUNCATE TABLE products", "") == nil)
        #expect(e("DROP TABLE") == nil)
    }

    // MARK: - Files

    @Test func checkpointFilesArePrivateAndAnUnsafeDirectoryIsRefused() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("br-modes-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let dir = base + "/a/checkpoints"
        let store = try CheckpointStore(directory: dir)
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o700)
        let written = try store.write(Checkpoint(header: .init(createdMillis: 1, source: .init(flavour: .mariadb, serverID: 1), position: .init(file: "b.000001", position: 4), gtidState: "", watchesFingerprint: "", schemaFingerprint: ""), watches: [], divergences: []))
        #expect(stat(written.file.path, &st) == 0 && st.st_mode & 0o777 == 0o600)

        // Group- or world-writable: refused, with the fix.
        _ = chmod(dir, 0o777)
        #expect {
            _ = try CheckpointStore(directory: dir)
        } throws: { e in
            "\(e)".contains("group- or world-writable") && "\(e)".contains("chmod 700")
        }
        // Another owner: refused (the tests run as root, so chown works).
        _ = chmod(dir, 0o700)
        if geteuid() == 0 {
            _ = chown(dir, 65534, 65534)
            #expect {
                _ = try CheckpointStore(directory: dir)
            } throws: { e in
                "\(e)".contains("belongs to uid 65534")
            }
            _ = chown(dir, 0, 0)
        }
        // A checkpoint left world-readable by an older version is made private.
        _ = chmod(written.file.path, 0o644)
        _ = try CheckpointStore(directory: dir)
        #expect(stat(written.file.path, &st) == 0 && st.st_mode & 0o777 == 0o600)

        let report = base + "/report.jsonl"
        _ = try ReportSink(path: report)
        #expect(stat(report, &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    // MARK: - Linear apply

    /// A 1,600,000-row UPDATE logged with binlog_row_image=MINIMAL that does not change the watched
    /// column: every row needs the value its key has inside the transaction. Applied through the
    /// live path's assembler from the server's binlog file.
    @Test func aLargeMinimalImageTransactionAppliesInLinearTime() throws {
        guard TestEnv.mariadbAvailable else { Issue.record("MariaDB must run (scripts/test starts it)"); return }
        let rows = Int(ProcessInfo.processInfo.environment["BR_TEST_MINIMAL_ROWS"] ?? "") ?? 1_600_000
        let db = "minimal_\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(db)") }
        _ = try TestEnv.sql("""
            CREATE DATABASE \(db); CREATE TABLE \(db).products (id BIGINT PRIMARY KEY, name VARCHAR(20), stock INT) ENGINE=InnoDB;
            INSERT INTO \(db).products SELECT seq, 'p', seq % 1000 FROM \(db).seq_1_to_\(rows);
            FLUSH BINARY LOGS;
            """)
        let file = try #require(try TestEnv.sql("SHOW MASTER STATUS").first?.first)
        _ = try TestEnv.sql("SET SESSION binlog_row_image = 'MINIMAL'; UPDATE \(db).products SET name = 'q'; FLUSH BINARY LOGS;")
        let watch = WatchConfiguration(name: "w", database: db, table: "products", keyColumns: ["id"], valueColumn: "stock", target: .string(try RedisKeyTemplate("k:{id}", keyColumns: ["id"])))
        var assembler = TransactionAssembler(watches: [watch]) { _, _ in nil }
        var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: file, position: 4))
        // The rows as the bootstrap would have them.
        for id in 1...rows { state.maps[0][.int(Int64(id))] = .int(Int64(id % 1000)) }
        let events = try BinlogFileEvents(path: TestEnv.mariadbDataDir + "/" + file)
        var committed: [CommittedTransaction] = []
        let started = monotonicSeconds()
        while let e = try events.next() {
            if let tx = try assembler.consume(e.event, end: BinlogCoordinates(file: file, position: e.resumeOffset), state: &state) { committed.append(tx) }
        }
        let seconds = monotonicSeconds() - started
        print("MINIMAL UPDATE of \(rows) rows applied in \(String(format: "%.2f", seconds)) s")
        // Nothing changed in the watched column, and every row kept its value.
        #expect(committed.allSatisfy { $0.changes.isEmpty })
        #expect(state.maps[0].count == rows)
        #expect(state.maps[0][.int(777)] == .int(777))
        // Quadratic apply took ~3 s for 80,000 rows in release; 1.6 M rows would take over 20 min.
        #expect(seconds < 120, "\(seconds) s")

        // `analyze` of the same file: the same rule, linear too.
        let offlineStarted = monotonicSeconds()
        var analyzer = BinlogAnalyzer(options: .init(table: "\(db).products", keyColumns: ["id"], valueColumn: "stock"))
        try analyzer.replay(path: TestEnv.mariadbDataDir + "/" + file)
        analyzer.finish()
        let offlineSeconds = monotonicSeconds() - offlineStarted
        print("analyze of the MINIMAL UPDATE of \(rows) rows: \(String(format: "%.2f", offlineSeconds)) s")
        #expect(offlineSeconds < 120, "\(offlineSeconds) s")
        #expect(analyzer.keyCount == rows)
        #expect(analyzer.summary.transactions >= 1)
    }
}

/// The live daemon helper of these tests (``LiveDaemon``), started from a configuration.
typealias InProcessDaemon = LiveDaemon
