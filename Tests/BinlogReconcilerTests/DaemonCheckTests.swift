import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// `binlog-reconciler check` end to end against the private MariaDB and Redis: faults injected on
/// both sides are each reported once with their kind; a consistent cache gives exit 0.
@Suite(.serialized) struct DaemonCheckTests {
    static var redisPort: String { ProcessInfo.processInfo.environment["BR_REDIS_PORT"] ?? "26379" }
    static var mysqlPort: String { ProcessInfo.processInfo.environment["BR_MYSQL_PORT"] ?? "23306" }

    static func redis(_ args: [String]) throws -> String {
        try TestEnv.run("redis-cli", ["-p", redisPort] + args).stdout
    }

    static func config(db: String, prefix: String, reconcile: String = "") throws -> String {
        let toml = """
            [source]
            host = "127.0.0.1"
            port = \(mysqlPort)
            user = "reconciler"
            password_env = "BR_TEST_MYSQL_PASSWORD"
            server_id = \(Int.random(in: 1000...60000))

            [redis]
            host = "127.0.0.1"
            port = \(redisPort)
            notifications = "tracking"

            [[watch]]
            name = "stock"
            table = "\(db).products"
            key = "id"
            value = "stock"
            redis_key = "\(prefix):{id}:stock"

            [reconcile]
            sweep_interval_seconds = 5
            \(reconcile)

            [metrics]
            listen = ""
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-\(prefix).toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func setUp(rows: Int) throws -> (db: String, prefix: String) {
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "daemon_\(n)", prefix = "dt\(n)"
        var sql = "CREATE DATABASE \(db); CREATE TABLE \(db).products (id BIGINT PRIMARY KEY, name VARCHAR(20), stock INT) ENGINE=InnoDB;\nINSERT INTO \(db).products VALUES "
        sql += (1...rows).map { "(\($0), 'p\($0)', \(100 + $0))" }.joined(separator: ",") + ";"
        _ = try TestEnv.sql(sql)
        var cmds = ""
        for i in 1...rows { cmds += "SET \(prefix):\(i):stock \(100 + i)\n" }
        _ = try TestEnv.run("redis-cli", ["-p", redisPort], stdin: cmds)
        return (db, prefix)
    }

    static func tearDown(_ db: String, _ prefix: String) {
        _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(db)")
        _ = try? TestEnv.run("sh", ["-c", "redis-cli -p \(redisPort) --scan --pattern '\(prefix):*' | xargs -r redis-cli -p \(redisPort) DEL"])
    }

    static func check(_ configPath: String, _ extra: [String] = []) throws -> (status: Int32, records: [[String: Any]], stderr: String) {
        let r = try TestEnv.run(TestEnv.cli, ["check", "--config", configPath, "--timeout", "60"] + extra, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        let records = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (r.status, records, r.stderr)
    }

    static var serversUp: Bool { TestEnv.mariadbAvailable && ((try? redis(["PING"]))?.contains("PONG") ?? false) }

    /// `sweep_keys_per_second` spreads the sweep over time (3,000 keys at 1,000/s take at least
    /// 2 s: one second of budget may be banked; unpaced they take milliseconds), and a paced sweep
    /// still finds what a fast one does.
    @Test func aPacedSweepTakesItsTimeAndStillFindsTheFault() throws {
        guard Self.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try Self.setUp(rows: 3000)
        defer { Self.tearDown(db, prefix) }
        _ = try Self.redis(["SET", "\(prefix):2500:stock", "1"])
        let paced = try Self.config(db: db, prefix: prefix, reconcile: "sweep_keys_per_second = 1000")
        let r = try Self.check(paced, ["--log-level", "debug"])
        #expect(r.status == 1, "\(r.stderr.suffix(2000))")
        let divergences = r.records.filter { $0["event"] as? String == "divergence" }
        #expect(divergences.map { $0["key"] as? String } == ["2500"], "\(r.records)")
        // The sweep's own duration, from its debug line (`keys=3000 ms=…` … `sweep`).
        let sweepLine = r.stderr.split(separator: "\n").first { $0.hasSuffix(" sweep") && $0.contains("keys=3000") }
        let ms = sweepLine.flatMap { line in line.split(separator: " ").first { $0.hasPrefix("ms=") }.flatMap { Int($0.dropFirst(3)) } }
        #expect((ms ?? 0) >= 2000, "a sweep of 3,000 keys at 1,000 keys/s took \(ms.map { "\($0) ms" } ?? "?"): \(sweepLine ?? "no sweep line")")
    }

    @Test func consistentCacheExitsZero() throws {
        guard Self.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try Self.setUp(rows: 30)
        defer { Self.tearDown(db, prefix) }
        // A change after the snapshot that also reached Redis.
        let path = try Self.config(db: db, prefix: prefix)
        let r = try Self.check(path)
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")
        #expect(r.records.isEmpty, "\(r.records)")
    }

    @Test func eachFaultIsReportedOnceWithItsKind() throws {
        guard Self.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try Self.setUp(rows: 40)
        defer { Self.tearDown(db, prefix) }
        // Faults: Redis higher (oversell risk), key evicted, garbage, a manual MySQL update that
        // never reached Redis, a row deleted but its key left behind.
        _ = try Self.redis(["SET", "\(prefix):3:stock", "999"])
        _ = try Self.redis(["DEL", "\(prefix):5:stock"])
        _ = try Self.redis(["SET", "\(prefix):7:stock", "lots"])
        _ = try Self.redis(["LPUSH", "\(prefix):11:stock-x", "1"])
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 1 WHERE id = 9; DELETE FROM \(db).products WHERE id = 13;")
        // Consistent changes: both sides moved.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock - 2 WHERE id = 20;")
        _ = try Self.redis(["DECRBY", "\(prefix):20:stock", "2"])
        let path = try Self.config(db: db, prefix: prefix)
        let r = try Self.check(path)
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let divergences = r.records.filter { $0["event"] as? String == "divergence" }
        var kinds: [String: String] = [:]
        for d in divergences { kinds[d["key"] as? String ?? "?"] = d["kind"] as? String }
        // Key 13: the row was deleted after the snapshot; the shadow map drops it, and only an
        // orphan scan (off here) would look at its Redis key, so it is not reported.
        #expect(kinds == ["3": "redis_higher", "5": "missing", "7": "not_a_number", "9": "redis_higher"], "\(r.records)")
        #expect(divergences.count == 4, "one record per key")
        if let d = divergences.first(where: { $0["key"] as? String == "9" }) {
            #expect(d["expected"] as? String == "1")
            #expect(d["redis"] as? String == "109")
            #expect(d["redis_key"] as? String == "\(prefix):9:stock")
            #expect((d["id"] as? String)?.hasPrefix("stock|9|") == true)
            let binlog = d["binlog"] as? [String: Any]
            #expect((binlog?["file"] as? String)?.hasPrefix("mysql-bin.") == true)
        }
    }
}
