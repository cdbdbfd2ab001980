import Foundation
import Testing
@testable import BinlogReconciler

/// A `binlog-reconciler run` child process for the end-to-end tests of the Redis side: its report
/// records (the --report file), its stderr, its /metrics.
final class DaemonUnderTest {
    let db: String
    let prefix: String
    let rows: Int
    let metricsPort = Int.random(in: 20000...29999)
    let configPath: String
    let outPath: String
    let errPath: String
    let process = Process()

    /// - Parameters:
    ///   - redis: extra lines for [redis] (after host/port), e.g. `notifications = "off"`.
    ///   - watch: extra lines for the [[watch]].
    ///   - reconcile: extra lines for [reconcile].
    init(rows: Int, redis: String = "notifications = \"tracking\"", watch: String = "", reconcile: String = "", arguments: [String] = []) throws {
        (db, prefix) = try DaemonCheckTests.setUp(rows: rows)
        self.rows = rows
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("br-redis-\(prefix)").path
        configPath = base + ".toml"
        outPath = base + ".out"
        errPath = base + ".err"
        let toml = """
            [source]
            host = "127.0.0.1"
            port = \(DaemonCheckTests.mysqlPort)
            user = "reconciler"
            password_env = "BR_TEST_MYSQL_PASSWORD"
            server_id = \(Int.random(in: 1000...60000))

            [redis]
            host = "127.0.0.1"
            port = \(DaemonCheckTests.redisPort)
            \(redis)

            [[watch]]
            name = "stock"
            table = "\(db).products"
            key = "id"
            value = "stock"
            redis_key = "\(prefix):{id}:stock"
            \(watch)

            [reconcile]
            report = "\(outPath)"
            \(reconcile)

            [metrics]
            listen = "127.0.0.1:\(metricsPort)"
            """
        try toml.write(toFile: configPath, atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: TestEnv.cli)
        process.arguments = ["run", "--config", configPath] + arguments
        var env = ProcessInfo.processInfo.environment
        env["BR_TEST_MYSQL_PASSWORD"] = "reconciler"
        process.environment = env
        FileManager.default.createFile(atPath: errPath + ".stdout", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: errPath + ".stdout")
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        DaemonCheckTests.tearDown(db, prefix)
        for p in [configPath, outPath, errPath, errPath + ".stdout"] { try? FileManager.default.removeItem(atPath: p) }
    }

    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Every report record so far, in file order.
    var records: [[String: Any]] {
        ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func records(_ event: String) -> [[String: Any]] { records.filter { $0["event"] as? String == event } }

    /// Waits until `condition` holds (or `seconds` pass); returns whether it held.
    @discardableResult
    func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// Waits for "caught up" and the first sweep after it.
    func waitReady() -> Bool {
        wait(30) { stderr.contains("caught up") } && { Thread.sleep(forTimeInterval: 0.5); return true }()
    }

    func metrics() throws -> String {
        try MetricsHTTPClient.request("GET", "/metrics", port: metricsPort).body
    }

    /// The value of one series line (`name{labels} value`), summed over lines that start with
    /// `series` (so `x_total{kind="missing"}` or a bare name).
    func metric(_ text: String, _ series: String) -> Double? {
        var sum: Double?
        for line in text.split(separator: "\n") where line.hasPrefix(series) && !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let v = Double(parts[parts.count - 1]) else { continue }
            let name = parts[0]
            if name == series || name.hasPrefix(series + "{") || series.hasSuffix("}") || series.hasSuffix(",") {
                sum = (sum ?? 0) + v
            }
        }
        return sum
    }

    /// SIGTERM; returns the exit status.
    func stop() -> Int32? {
        process.terminate()
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Sets every Redis key from the rows in MySQL (the reload after a flush).
    func reloadFromMySQL() throws {
        let rows = try TestEnv.sql("SELECT id, stock FROM \(db).products")
        var cmds = ""
        for r in rows where r.count == 2 { cmds += "SET \(prefix):\(r[0]):stock \(r[1])\n" }
        _ = try TestEnv.run("redis-cli", ["-p", DaemonCheckTests.redisPort], stdin: cmds)
    }
}

/// Redis-side behaviour of the daemon end to end: flush and restart (one summary, per-key missing
/// divergences, one resolved each after a reload, no stall), the Redis Stream sink, keyspace
/// notifications on and off, orphans, metrics.
@Suite(.serialized) struct DaemonRedisTests {
    /// Checks the flush/restart contract on the records of `d` from `startIndex` on.
    static func expectIncident(_ d: DaemonUnderTest, reason: String, since: Date, keys: Int, restoredAfter: () throws -> Void) throws {
        // One summary, quickly.
        #expect(d.wait(10) { !d.records("summary").isEmpty }, "\(d.stderr.suffix(3000))")
        let summaries = d.records("summary")
        #expect(summaries.count == 1, "\(summaries)")
        guard let s = summaries.first else { return }
        #expect(s["reason"] as? String == reason, "\(s)")
        #expect(s["keys"] as? Int == keys, "\(s)")
        #expect((s["keys_checked"] as? Int ?? 0) >= keys, "\(s)")
        // Then the per-key missing divergences: one per key.
        #expect(d.wait(20) { d.records("divergence").count >= keys }, "\(d.records("divergence").count) of \(keys); \(d.stderr.suffix(3000))")
        Thread.sleep(forTimeInterval: 2.5)  // more sweeps and confirmation reads: no duplicates may follow
        let all = d.records
        let divergences = all.filter { $0["event"] as? String == "divergence" }
        #expect(divergences.count == keys, "\(divergences.count) divergence records for \(keys) keys")
        #expect(Set(divergences.compactMap { $0["key"] as? String }).count == keys, "one per key")
        #expect(divergences.allSatisfy { $0["kind"] as? String == "missing" && $0["redis"] is NSNull })
        let summaryIndex = all.firstIndex { $0["event"] as? String == "summary" } ?? Int.max
        let firstDivergence = all.firstIndex { $0["event"] as? String == "divergence" } ?? -1
        #expect(summaryIndex < firstDivergence, "the summary precedes the per-key records")
        #expect(d.records("summary").count == 1)

        try restoredAfter()
        #expect(d.wait(20) { d.records("resolved").count >= keys }, "\(d.records("resolved").count) of \(keys) resolved; \(d.stderr.suffix(2000))")
        Thread.sleep(forTimeInterval: 2)
        let resolved = d.records("resolved")
        #expect(resolved.count == keys, "exactly one resolved per key")
        #expect(Set(resolved.compactMap { $0["id"] as? String }) == Set(divergences.compactMap { $0["id"] as? String }))
        #expect(d.records("divergence").count == keys && d.records("summary").count == 1)
    }

    @Test func flushIsSummarizedOnceThenEachKeyIsMissingThenResolved() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        // Sweeps every 30 s: anything within seconds comes from noticing the flush.
        let d = try DaemonUnderTest(rows: 300, reconcile: "sweep_interval_seconds = 30")
        #expect(d.waitReady(), "\(d.stderr.suffix(2000))")
        _ = try DaemonCheckTests.redis(["FLUSHALL"])
        let flushedAt = Date()
        #expect(d.wait(1.5) { !d.records("summary").isEmpty }, "summary within a second and a half of FLUSHALL: \(d.stderr.suffix(2000))")
        if let s = d.records("summary").first, let noticed = s["noticed_at"] as? String {
            #expect(noticed.hasPrefix("20"))
        }
        // The daemon keeps applying the binlog meanwhile: this change must be in the shadow map
        // for the reloaded key to resolve.
        _ = try TestEnv.sql("UPDATE \(d.db).products SET stock = 7 WHERE id = 5")
        try Self.expectIncident(d, reason: "redis_flush", since: flushedAt, keys: 300) {
            try d.reloadFromMySQL()
        }
        #expect(d.stderr.contains("Redis announced a flush"))
        #expect(d.stop() == 0, "\(d.stderr.suffix(2000))")
    }

    @Test(.enabled(if: RedisTestEnv.scriptsOwnRedis, "the Redis on BR_REDIS_PORT was not started by scripts/redis-start from BR_STATE_DIR"))
    func restartIsSummarizedOnceThenEachKeyIsMissingThenResolved() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let d = try DaemonUnderTest(rows: 10000, reconcile: "sweep_interval_seconds = 2")
        #expect(d.waitReady(), "\(d.stderr.suffix(2000))")
        defer { _ = RedisTestEnv.script("redis-start") }
        // Through posix_spawn with a clean signal mask and no inherited descriptors (see
        // ChildProcess): a server started with Foundation's Process would ignore SIGTERM and hold
        // the test's pipes.
        let stopped = RedisTestEnv.script("redis-stop")
        #expect(stopped.status == 0, "\(stopped.output)")
        let stoppedAt = Date()
        #expect(d.wait(1.0) { d.stderr.contains("Redis connection lost") }, "noticed within a second: \(d.stderr.suffix(2000))")
        // The binlog keeps being applied while Redis is down.
        _ = try TestEnv.sql("UPDATE \(d.db).products SET stock = 3 WHERE id = 9")
        Thread.sleep(forTimeInterval: 1)
        #expect(d.records("summary").isEmpty, "no summary before Redis answers")
        let started = RedisTestEnv.script("redis-start")
        #expect(started.status == 0, "\(started.output)")
        try Self.expectIncident(d, reason: "redis_restart", since: stoppedAt, keys: 10000) {
            try d.reloadFromMySQL()
        }
        if let s = d.records("summary").first {
            #expect(s["redis_run_id"] as? String != nil && s["previous_redis_run_id"] as? String != nil)
            #expect(s["redis_run_id"] as? String != s["previous_redis_run_id"] as? String)
        }
        let m = try d.metrics()
        #expect((d.metric(m, "binlog_reconciler_reconnects_total{target=\"redis\"}") ?? 0) >= 1, "\(m)")
        #expect((d.metric(m, "binlog_reconciler_redis_errors_total") ?? 0) >= 1)
        #expect(d.metric(m, "binlog_reconciler_divergences_total{kind=\"missing\"}") == 10000)
        #expect(d.stop() == 0, "\(d.stderr.suffix(2000))")
    }
}
