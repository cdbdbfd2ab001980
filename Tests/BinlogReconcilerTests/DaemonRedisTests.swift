import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

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
        _ = FileManager.default.createFile(atPath: errPath + ".stdout", contents: nil)
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

    // MARK: - Redis Stream sink

    @Test func reportsAreAppendedToARedisStreamWithMaxlen() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let stream = "brtest:reports:\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? DaemonCheckTests.redis(["DEL", stream]) }
        let d = try DaemonUnderTest(rows: 200, reconcile: "sweep_interval_seconds = 2\nreport_stream = \"\(stream)\"\nreport_stream_maxlen = 20")
        #expect(d.waitReady(), "\(d.stderr.suffix(2000))")
        // 150 keys wrong, then fixed: 300 records.
        var cmds = ""
        for i in 1...150 { cmds += "SET \(d.prefix):\(i):stock 5000\n" }
        _ = try TestEnv.run("redis-cli", ["-p", DaemonCheckTests.redisPort], stdin: cmds)
        #expect(d.wait(20) { d.records("divergence").count == 150 }, "\(d.records.count) \(d.stderr.suffix(2000))")
        try d.reloadFromMySQL()
        #expect(d.wait(20) { d.records("resolved").count == 150 })
        Thread.sleep(forTimeInterval: 0.5)
        // MAXLEN ~ 20: Redis trims whole macro nodes (100 entries by default), so the stream holds
        // at least 20 and far fewer than the 300 written.
        let len = Int(try DaemonCheckTests.redis(["XLEN", stream]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(len >= 20 && len < 300, "XLEN \(len)")
        // The newest entries are the newest records, field for field.
        let out = try TestEnv.run("redis-cli", ["-p", DaemonCheckTests.redisPort, "--no-raw", "XREVRANGE", stream, "+", "-", "COUNT", "1"]).stdout
        let lastLine = ((try? String(contentsOfFile: d.outPath, encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init) ?? "?"
        let raw = try TestEnv.run("redis-cli", ["-p", DaemonCheckTests.redisPort, "XREVRANGE", stream, "+", "-", "COUNT", "1"]).stdout
        let fields = raw.split(separator: "\n").map(String.init)
        #expect(fields.contains("record") && fields.contains(lastLine), "\(out)")
        #expect(fields.contains("event") && fields.contains("resolved"))
        #expect(d.stop() == 0)
    }

    @Test(.enabled(if: RedisTestEnv.scriptsOwnRedis, "the Redis on BR_REDIS_PORT was not started by scripts/redis-start from BR_STATE_DIR"))
    func streamWriterQueuesThroughARedisRestartAndDropsTheOldestWhenFull() throws {
        defer { _ = RedisTestEnv.script("redis-start") }
        let stream = "brtest:writer:\(UInt32.random(in: 0...UInt32.max))"
        let writer = ReportStreamWriter(configuration: RedisTestEnv.configuration, stream: stream, maxLength: 1000, queueCapacity: 3, logger: .init(label: "test"))
        func record(_ n: Int) -> (ReportRecord, [UInt8]) {
            let r = ReportRecord(event: .divergence, id: "w|\(n)|t", watch: "w", key: "\(n)", redisKey: "k\(n)", expected: "1", redis: "2", kind: .redisHigher,
                                 firstSeen: 0, detectedAt: 0, binlog: BinlogCoordinates(file: "b", position: 4), binlogGTID: "")
            return (r, Array("{\"n\":\(n)}".utf8))
        }
        func xlen() -> Int { Int((try? DaemonCheckTests.redis(["XLEN", stream]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1 }
        for n in 1...2 { let (r, j) = record(n); writer.append(r, json: j) }
        let deadline = Date().addingTimeInterval(5)
        while xlen() != 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(xlen() == 2)
        #expect(RedisTestEnv.script("redis-stop").status == 0)
        // Five records while Redis is down: the queue holds 3, the two oldest are dropped.
        for n in 3...7 { let (r, j) = record(n); writer.append(r, json: j) }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(writer.droppedRecords == 2)
        #expect(RedisTestEnv.script("redis-start").status == 0)
        let deadline2 = Date().addingTimeInterval(10)
        while xlen() != 3 && Date() < deadline2 { Thread.sleep(forTimeInterval: 0.05) }
        let entries = try TestEnv.run("redis-cli", ["-p", DaemonCheckTests.redisPort, "XRANGE", stream, "-", "+"]).stdout
        #expect(xlen() == 3, "\(entries)")
        #expect(entries.contains("{\"n\":5}") && entries.contains("{\"n\":7}") && !entries.contains("{\"n\":4}"), "\(entries)")
        writer.close()
        _ = try? DaemonCheckTests.redis(["DEL", stream])
    }

    // MARK: - Keyspace notifications

    @Test(.enabled(if: RedisTestEnv.scriptsOwnRedis, "the Redis on BR_REDIS_PORT was not started by scripts/redis-start from BR_STATE_DIR"))
    func keyspaceNotificationsOffAreReportedAndOnAreUsedAndRestoredAfterARestart() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        defer { _ = RedisTestEnv.script("redis-start"); _ = try? DaemonCheckTests.redis(["CONFIG", "SET", "notify-keyspace-events", ""]) }
        _ = try DaemonCheckTests.redis(["CONFIG", "SET", "notify-keyspace-events", ""])

        // Off, and not allowed to turn them on: said loudly; a fault is still found by a sweep.
        do {
            let d = try DaemonUnderTest(rows: 20, redis: "notifications = \"keyspace\"", reconcile: "sweep_interval_seconds = 3")
            #expect(d.waitReady(), "\(d.stderr.suffix(2000))")
            #expect(d.stderr.contains("keyspace notifications are OFF"), "\(d.stderr.suffix(2000))")
            #expect(try !DaemonCheckTests.redis(["CONFIG", "GET", "notify-keyspace-events"]).contains("K"), "left off")
            _ = try DaemonCheckTests.redis(["SET", "\(d.prefix):4:stock", "555"])
            #expect(d.wait(15) { d.records("divergence").count == 1 }, "\(d.stderr.suffix(2000))")
            Thread.sleep(forTimeInterval: 1)  // gauges are refreshed every half second
            let m = try d.metrics()
            #expect(d.metric(m, "binlog_reconciler_reads_total{trigger=\"notification\"}") == 0, "no notifications when they are off")
            #expect(d.metric(m, "binlog_reconciler_divergences_open{watch=\"stock\",kind=\"redis_higher\"}") == 1, "\(m)")
            #expect(d.stop() == 0)
        }
        // --enable-keyspace-events: turned on, used (sweeps every 60 s, so a fault found within
        // seconds came from a notification), and turned on again after Redis restarts.
        do {
            let d = try DaemonUnderTest(rows: 20, redis: "notifications = \"off\"", reconcile: "sweep_interval_seconds = 60", arguments: ["--enable-keyspace-events"])
            #expect(d.waitReady(), "\(d.stderr.suffix(2000))")
            #expect(d.stderr.contains("turned on"), "\(d.stderr.suffix(2000))")
            #expect(try DaemonCheckTests.redis(["CONFIG", "GET", "notify-keyspace-events"]).contains("K"))
            Thread.sleep(forTimeInterval: 0.5)
            _ = try DaemonCheckTests.redis(["SET", "\(d.prefix):4:stock", "555"])
            let at = Date()
            #expect(d.wait(8) { d.records("divergence").count == 1 }, "\(d.stderr.suffix(2000))")
            #expect(Date().timeIntervalSince(at) < 8)
            let m = try d.metrics()
            #expect((d.metric(m, "binlog_reconciler_reads_total{trigger=\"notification\"}") ?? 0) >= 1, "\(m)")
            // A restarted Redis forgets a runtime CONFIG SET: checked and set again.
            #expect(RedisTestEnv.script("redis-stop").status == 0)
            #expect(RedisTestEnv.script("redis-start").status == 0)
            #expect(d.wait(10) { ((try? DaemonCheckTests.redis(["CONFIG", "GET", "notify-keyspace-events"])) ?? "").contains("K") }, "\(d.stderr.suffix(2000))")
            #expect(d.stop() == 0)
        }
    }

    // MARK: - Orphans

    @Test func anOrphanKeyIsFoundByTheScan() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 30)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        _ = try DaemonCheckTests.redis(["SET", "\(prefix):999999:stock", "5"])
        let plain = try DaemonCheckTests.config(db: db, prefix: prefix)
        // Without scan_orphans nothing looks at that key.
        let without = try DaemonCheckTests.check(plain)
        #expect(without.status == 0, "\(without.records) \(without.stderr.suffix(1500))")
        var text = try String(contentsOfFile: plain, encoding: .utf8)
        text = text.replacingOccurrences(of: "redis_key = \"\(prefix):{id}:stock\"", with: "redis_key = \"\(prefix):{id}:stock\"\nscan_orphans = true")
        let path = plain + ".orphans.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try DaemonCheckTests.check(path)
        #expect(r.status == 1, "\(r.stderr.suffix(2000))")
        let divergences = r.records.filter { $0["event"] as? String == "divergence" }
        #expect(divergences.count == 1, "\(r.records)")
        #expect(divergences.first?["kind"] as? String == "orphan")
        #expect(divergences.first?["key"] as? String == "999999")
        #expect(divergences.first?["redis_key"] as? String == "\(prefix):999999:stock")
        #expect(divergences.first?["expected"] is NSNull)
        #expect(divergences.first?["redis"] as? String == "5")
    }

    // MARK: - Metrics

    @Test func everyMetricOfTheIssueIsFed() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let ckpt = FileManager.default.temporaryDirectory.appendingPathComponent("br-metrics-ckpt-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: ckpt) }
        let d = try DaemonUnderTest(rows: 20, reconcile: "sweep_interval_seconds = 2\nrepair = true\n[checkpoint]\ndirectory = \"\(ckpt)\"\ninterval_seconds = 1")
        #expect(d.waitReady(), "\(d.stderr.suffix(2000))")
        let k = { (id: Int) in "\(d.prefix):\(id):stock" }
        // Redis ahead: a pre-deduct notified 0.5 s before MySQL commits it (lead ≈ +0.5 s).
        _ = try DaemonCheckTests.redis(["SET", k(2), "90"])
        Thread.sleep(forTimeInterval: 0.5)
        _ = try TestEnv.sql("UPDATE \(d.db).products SET stock = 90 WHERE id = 2")
        // Redis behind: MySQL commits, Redis still shows (and is written) the old value 0.4 s
        // later, then follows (lag ≈ -0.4 s).
        _ = try TestEnv.sql("UPDATE \(d.db).products SET stock = 80 WHERE id = 3")
        Thread.sleep(forTimeInterval: 0.4)
        _ = try DaemonCheckTests.redis(["SET", k(3), "103"])
        Thread.sleep(forTimeInterval: 0.3)
        _ = try DaemonCheckTests.redis(["SET", k(3), "80"])
        // A fault, repaired with compare-and-set.
        _ = try DaemonCheckTests.redis(["SET", k(4), "555"])
        #expect(d.wait(15) { !d.records("repaired").isEmpty }, "\(d.records) \(d.stderr.suffix(2000))")
        Thread.sleep(forTimeInterval: 2.5)
        let m = try d.metrics()
        func v(_ s: String) -> Double { d.metric(m, s) ?? -1 }
        #expect(m.contains("binlog_reconciler_binlog_file_info{file=\"mysql-bin."), "\(m)")
        #expect(v("binlog_reconciler_binlog_position_bytes") > 4)
        #expect(v("binlog_reconciler_seconds_behind_source") == 0)
        #expect(v("binlog_reconciler_apply_lag_seconds_count") >= 2)
        #expect(v("binlog_reconciler_events_applied_total") >= 2)
        #expect(v("binlog_reconciler_rows_applied_total") >= 2)
        #expect(v("binlog_reconciler_keys_tracked{watch=\"stock\"}") >= 0)
        for trigger in ["change", "notification", "sweep", "confirm"] {
            #expect(v("binlog_reconciler_reads_total{trigger=\"\(trigger)\"}") >= 1, "reads by \(trigger): \(m)")
        }
        #expect(v("binlog_reconciler_suspects") == 0)
        #expect(v("binlog_reconciler_divergences_total{kind=\"redis_higher\"}") == 1, "\(d.records)")
        #expect(v("binlog_reconciler_divergences_open{watch=\"stock\",kind=\"redis_higher\"}") == 0, "repaired")
        #expect(v("binlog_reconciler_repairs_total{result=\"repaired\"}") == 1)
        #expect(v("binlog_reconciler_sweep_duration_seconds_count") >= 2)
        #expect(v("binlog_reconciler_sweep_keys_per_second") > 0)
        #expect(v("binlog_reconciler_redis_errors_total") == 0)
        #expect(v("binlog_reconciler_reconnects_total{target=\"redis\"}") == 0)
        #expect(v("binlog_reconciler_last_checkpoint_age_seconds") >= 0 && v("binlog_reconciler_last_checkpoint_age_seconds") < 3)
        // The lead/lag histogram: one sample on each side of zero.
        let count = v("binlog_reconciler_redis_lead_seconds_count")
        let atOrBelowMinus01 = v("binlog_reconciler_redis_lead_seconds_bucket{le=\"-0.1\"}")
        let atOrBelowZero = v("binlog_reconciler_redis_lead_seconds_bucket{le=\"0.0\"}") >= 0 ? v("binlog_reconciler_redis_lead_seconds_bucket{le=\"0.0\"}") : v("binlog_reconciler_redis_lead_seconds_bucket{le=\"0\"}")
        #expect(count >= 2, "\(m.split(separator: "\n").filter { $0.contains("redis_lead") })")
        #expect(atOrBelowMinus01 >= 1, "a lag sample (≈ -0.4 s)")
        #expect(count - atOrBelowZero >= 1, "a lead sample (≈ +0.5 s)")
        #expect(d.stop() == 0)
    }
}
