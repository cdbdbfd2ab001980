import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

enum RedisSentinelTestEnv {
    /// The base port of `scripts/redis-sentinel-start` (sentinels on BASE+10..BASE+12).
    static let port: Int? = ProcessInfo.processInfo.environment["BR_REDIS_SENTINEL_PORT"].flatMap { Int($0) }
    static let masterName = "shop"

    static var sentinels: [RedisConfiguration.Endpoint] { (10...12).map { .tcp(host: "127.0.0.1", port: (port ?? 0) + $0) } }

    static func configuration(_ endpoint: RedisConfiguration.Endpoint) -> RedisConfiguration {
        RedisConfiguration(endpoint: endpoint, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
    }

    static func resolver() -> RedisSentinelResolver {
        RedisSentinelResolver(sentinels: sentinels, masterName: masterName, sentinelBase: configuration(sentinels[0]))
    }

    /// A connection to the primary a quorum names now (checked: ROLE master).
    static func primary() throws -> RedisConnection {
        try resolver().connectPrimary(dataBase: configuration(sentinels[0])).1
    }
}

/// `[redis] mode = "sentinel"` against the real topology of `scripts/redis-sentinel-start` (a
/// primary, a replica, three sentinels): the resolver, `doctor`, `check`, and a failover during
/// `run`.
@Suite(.serialized, .enabled(if: RedisSentinelTestEnv.port != nil, "BR_REDIS_SENTINEL_PORT is not set (scripts/redis-sentinel-start)"))
struct DaemonSentinelTests {
    typealias Env = RedisSentinelTestEnv

    /// `primary`: how to reach the primary (default: the topology of BR_REDIS_SENTINEL_PORT).
    static func setUp(rows: Int, primary: () throws -> RedisConnection = Env.primary) throws -> (db: String, prefix: String) {
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "sentinel_\(n)", prefix = "st\(n)"
        var sql = "CREATE DATABASE \(db); CREATE TABLE \(db).products (id BIGINT PRIMARY KEY, name VARCHAR(20), stock INT) ENGINE=InnoDB;\nINSERT INTO \(db).products VALUES "
        sql += (1...rows).map { "(\($0), 'p\($0)', \(100 + $0))" }.joined(separator: ",") + ";"
        _ = try TestEnv.sql(sql)
        _ = try primary().pipeline((1...rows).map { ["SET", "\(prefix):\($0):stock", "\(100 + $0)"] })
        return (db, prefix)
    }

    static func tearDown(_ db: String, _ prefix: String, rows: Int, primary: () throws -> RedisConnection = Env.primary) {
        _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(db)")
        _ = try? primary().pipeline((1...rows).map { ["DEL", "\(prefix):\($0):stock"] })
    }

    static func config(db: String, prefix: String, extra: String = "", sentinels: [RedisConfiguration.Endpoint] = Env.sentinels) throws -> String {
        let sentinels = sentinels.map { "\"\($0)\"" }.joined(separator: ", ")
        let toml = """
            [source]
            host = "127.0.0.1"
            port = \(DaemonCheckTests.mysqlPort)
            user = "reconciler"
            password_env = "BR_TEST_MYSQL_PASSWORD"
            server_id = \(Int.random(in: 1000...60000))

            [redis]
            mode = "sentinel"
            sentinels = [\(sentinels)]
            master_name = "\(Env.masterName)"
            notifications = "tracking"
            \(extra)

            [[watch]]
            name = "stock"
            table = "\(db).products"
            key = "id"
            value = "stock"
            redis_key = "\(prefix):{id}:stock"

            [reconcile]
            sweep_interval_seconds = 1
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-sentinel-\(db).toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theResolverFindsThePrimaryAndRefusesAnUnknownName() throws {
        let r = try Env.resolver().resolve()
        #expect(r.agreeing == 3, "\(r.answers)")
        guard case .tcp(_, let port) = r.primary else { Issue.record("\(r.primary)"); return }
        let role = try TestEnv.run("redis-cli", ["-p", String(port), "ROLE"]).stdout
        #expect(role.hasPrefix("master"), "\(role)")
        let (_, conn) = try Env.resolver().connectPrimary(dataBase: Env.configuration(r.primary))
        #expect(conn.configuration.endpoint == r.primary)
        let unknown = RedisSentinelResolver(sentinels: Env.sentinels, masterName: "no-such-master", sentinelBase: Env.configuration(Env.sentinels[0]))
        do {
            _ = try unknown.resolve()
            Issue.record("an unknown master name resolved")
        } catch {
            #expect(error.message.contains("master name unknown"), "\(error)")
        }
        // One sentinel that does not answer: two of three still make the quorum.
        let partial = RedisSentinelResolver(
            sentinels: [Env.sentinels[0], Env.sentinels[1], .tcp(host: "127.0.0.1", port: 1)], masterName: Env.masterName,
            sentinelBase: Env.configuration(Env.sentinels[0]))
        #expect(try partial.resolve().primary == r.primary)
    }

    @Test func doctorAndCheckInSentinelMode() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 3000
        let (db, prefix) = try Self.setUp(rows: rows)
        defer { Self.tearDown(db, prefix, rows: rows) }
        let path = try Self.config(db: db, prefix: prefix)
        let doctor = try DoctorAndRepairTests.doctor(path)
        let sentinel = doctor.findings.first { $0["check"] as? String == "redis.sentinel" }
        #expect(sentinel?["severity"] as? String == "ok", "\(doctor.findings)")
        let primary = try Env.primary().configuration.endpoint
        #expect((sentinel?["detail"] as? String)?.contains("3 of 3 sentinels name \(primary)") == true, "\(String(describing: sentinel))")
        let bad = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "master_name = \"shop\"", with: "master_name = \"nope\"")
        try bad.write(toFile: path + ".bad.toml", atomically: true, encoding: .utf8)
        let wrong = try DoctorAndRepairTests.doctor(path + ".bad.toml")
        #expect(wrong.findings.contains { $0["check"] as? String == "redis.sentinel" && $0["severity"] as? String == "error" }, "\(wrong.findings)")

        _ = try Env.primary().command(["SET", "\(prefix):2500:stock", "1"])
        _ = try Env.primary().command(["DEL", "\(prefix):17:stock"])
        let r = try DaemonCheckTests.check(path)
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let found = r.records.filter { $0["event"] as? String == "divergence" }
        let kinds = Dictionary(uniqueKeysWithValues: found.compactMap { d -> (String, String)? in
            guard let k = d["key"] as? String, let kind = d["kind"] as? String else { return nil }
            return (k, kind)
        })
        #expect(kinds == ["2500": "redis_lower", "17": "missing"], "\(found)")
        #expect(r.stderr.contains("Redis Sentinel"), "\(r.stderr.prefix(2000))")
    }

    /// `SENTINEL FAILOVER`, then waits until a quorum names another primary. Sentinel promotes
    /// the replica without waiting for it to catch up (after a recent failover it may still be
    /// loading the data), so first a write is acknowledged by it (`WAIT`): everything written
    /// before is then on the new primary.
    /// - Returns: when the command that was accepted was sent (Unix seconds).
    static func failOver() throws -> Double {
        let primary = try Env.primary()
        let before = primary.configuration.endpoint
        _ = try primary.command(["SET", "brtest:failover:synced", "1"])
        #expect(try primary.command(["WAIT", "1", "10000"]).integer == 1, "the replica did not acknowledge the last write")
        // A sentinel that has just started may not know the replica yet (NOGOODSLAVE): retried.
        var failoverSentAt = 0.0
        for _ in 0..<100 {
            failoverSentAt = Date().timeIntervalSince1970
            let out = try TestEnv.run("redis-cli", ["-p", String((Env.port ?? 0) + 10), "SENTINEL", "FAILOVER", Env.masterName]).stdout
            if out.hasPrefix("OK") { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        var after = before
        for _ in 0..<150 where after == before {
            Thread.sleep(forTimeInterval: 0.1)
            after = (try? Env.primary().configuration.endpoint) ?? before
        }
        try #require(after != before, "the failover did not happen")
        return failoverSentAt
    }

    /// `SENTINEL FAILOVER` during `run`: the reconciler follows the new primary, writes one
    /// `summary` (redis_failover) after a sweep, gives no false alarm for consistent writes made
    /// through the new primary, and finds a divergence planted there.
    @Test func aFailoverDuringRunIsFollowed() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 2000
        let (db, prefix) = try Self.setUp(rows: rows)
        defer { Self.tearDown(db, prefix, rows: rows) }
        let run = try RunningDaemon(config: try Self.config(db: db, prefix: prefix), name: "sentinel-\(db)")
        defer { run.stop() }
        func stderr() -> String { run.log }
        func report() -> String { run.report }
        #expect(run.process.isRunning, "\(stderr().suffix(3000))")

        let failoverSentAt = try Self.failOver()
        let sentinelsSwitchedAt = Date().timeIntervalSince1970
        // The shop writes through the new primary: MySQL first, then Redis.
        let newPrimary = try Env.primary()
        for round in 0..<20 {
            let id = 1 + (round * 97) % rows
            _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock - 1 WHERE id = \(id)")
            let v = try #require(try TestEnv.sql("SELECT stock FROM \(db).products WHERE id = \(id)").first?.first ?? nil)
            _ = try newPrimary.command(["SET", "\(prefix):\(id):stock", v])
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 3)
        #expect(!report().contains("\"divergence\""), "false alarm after the failover: \(report().prefix(3000))")
        let log = stderr()
        #expect(log.contains("Redis primary changed (Sentinel failover)"), "\(log.suffix(3000))")
        if let m = log.firstMatch(of: /at_unix_ms=(\d+)/), let at = Double(m.1) {
            print("sentinel failover: SENTINEL FAILOVER sent -> a quorum names the new primary (polled every 100 ms): \(Int((sentinelsSwitchedAt - failoverSentAt) * 1000)) ms; -> the reconciler's first successful read on it: \(Int(at - failoverSentAt * 1000)) ms")
        } else {
            Issue.record("no first read on the new primary: \(log.suffix(3000))")
        }

        // A divergence planted on the new primary after the failover is found.
        _ = try newPrimary.command(["SET", "\(prefix):1234:stock", "0"])
        var found = false
        for _ in 0..<100 where !found {
            Thread.sleep(forTimeInterval: 0.1)
            found = report().contains("\"divergence\"")
        }
        run.process.terminate()
        run.process.waitUntilExit()
        let records = run.records
        #expect(records.filter { $0["event"] as? String == "divergence" }.compactMap { $0["key"] as? String } == ["1234"], "\(report().prefix(3000))")
        let summaries = records.filter { $0["event"] as? String == "summary" }
        #expect(summaries.compactMap { $0["reason"] as? String } == ["redis_failover"], "\(summaries)")
    }
}
