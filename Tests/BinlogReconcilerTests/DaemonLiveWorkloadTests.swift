import BinlogParser
import Foundation
import Logging
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient
import BinlogSimulator

/// Issue 3's live workload: the daemon tails while a writer runs random transactions on the
/// watched table and an unrelated one (inserts, updates, deletes, key changes, multi-statement
/// transactions, rollbacks, a transaction over 16 MB, ADD COLUMN and a column reorder); midway the
/// dump connection is killed from another session and MariaDB is restarted. At the end the shadow
/// map equals SELECT, every GTID the writer committed was applied exactly once, every position the
/// daemon recorded is a transaction boundary on disk, and both reconnects were logged and counted.
@Suite(.serialized) struct DaemonLiveWorkloadTests {
    @Test func randomWorkloadWithKillAndRestartEndsEqualToSelect() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "live_\(n)", prefix = "lw\(n)"
        _ = try TestEnv.sql("""
            CREATE DATABASE \(db);
            CREATE TABLE \(db).products (id BIGINT PRIMARY KEY, name VARCHAR(20), stock INT, pad LONGBLOB) ENGINE=InnoDB;
            CREATE TABLE \(db).other (id BIGINT PRIMARY KEY, stock INT) ENGINE=InnoDB;
            INSERT INTO \(db).products (id, name, stock) SELECT seq, CONCAT('p', seq), 100 + seq FROM \(db).seq_1_to_200;
            """)
        defer { DaemonCheckTests.tearDown(db, prefix) }

        let reportPath = FileManager.default.temporaryDirectory.appendingPathComponent("br-live-\(prefix).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: reportPath) }
        let applied = AppliedLog()
        let live = try LiveDaemon(db: db, prefix: prefix, report: reportPath, label: "live-test") { tx, _ in applied.append(tx) }
        defer { live.stop() }
        let daemon = live.daemon, log = live.log
        // Tailing once the bootstrap is done and the first event arrived.
        try waitFor("the daemon to start tailing", log) { daemon.shared.withLock { $0.lastEventEnd != nil } }

        var writer = try Writer(db: db)
        var rng = SystemRandomNumberGenerator()
        try writer.randomTransactions(80, rng: &rng)
        // 1. KILL the dump connection from another session.
        let dumps = try TestEnv.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump' AND USER = 'reconciler'")
        #expect(dumps.count == 1, "one dump connection of ours: \(dumps)")
        for d in dumps { _ = try TestEnv.sql("KILL \(d[0])") }
        try writer.randomTransactions(60, rng: &rng)
        // A transaction over 16 MB (the row event spans two protocol packets), then DDL.
        try writer.bigTransaction()
        try writer.commit(["ALTER TABLE \(db).products ADD COLUMN note VARCHAR(10) DEFAULT 'n' AFTER id"])
        try writer.randomTransactions(60, rng: &rng)
        // 2. Restart MariaDB (fully detached: the server must not inherit this process's pipes).
        let restart = restartMariaDB()
        #expect(restart == 0, "restarting MariaDB failed: exit \(restart)")
        try writer.reconnect()
        try writer.randomTransactions(60, rng: &rng)
        try writer.commit(["ALTER TABLE \(db).products MODIFY COLUMN stock INT AFTER note"])  // column reorder
        try writer.randomTransactions(80, rng: &rng)

        // Caught up with the end of the binlog: everything committed is applied.
        try waitUntilCaughtUp(live)
        let (shadow, expected) = try shadowAndSelect(daemon, db: db)
        #expect(shadow.count == expected.count)
        #expect(shadow == expected, "shadow differs from SELECT at \(shadow.count) vs \(expected.count) keys; e.g. \(expected.filter { shadow[$0.key] != $0.value }.prefix(5))")

        // Exactly once: every GTID the writer committed was applied, none twice.
        let txs = applied.all
        var seen: [String: Int] = [:]
        for tx in txs { if let g = tx.gtid { seen[g, default: 0] += 1 } }
        let twice = seen.filter { $0.value > 1 }
        #expect(twice.isEmpty, "applied more than once: \(twice.prefix(5))")
        let missing = writer.gtids.filter { seen[$0] == nil }
        #expect(missing.isEmpty, "committed but never applied: \(missing.prefix(5)) of \(writer.gtids.count)")
        #expect(Set(writer.gtids).count >= 200, "the writer committed \(Set(writer.gtids).count) transactions")
        #expect(writer.rolledBack > 0 && writer.bigCommitted)

        // Every recorded position is a transaction boundary: the event ending there is an XID or
        // a query (COMMIT or DDL), as found in the binlog files on disk.
        let dir = TestEnv.mariadbDataDir + "/"
        var files: [String: [(offset: UInt64, type: UInt8)]] = [:]
        var notBoundary: [String] = []
        for tx in txs where tx.end.position > 4 {
            if files[tx.end.file] == nil { files[tx.end.file] = try TestSource.eventsOnDisk(dir + tx.end.file) }
            let events = files[tx.end.file]!
            guard let last = events.last(where: { $0.offset < tx.end.position }) else { notBoundary.append("\(tx.end)"); continue }
            let next = events.first(where: { $0.offset >= tx.end.position })
            let size = (try? FileManager.default.attributesOfItem(atPath: dir + tx.end.file)[.size] as? UInt64) ?? 0
            let endsAnEvent = next?.offset == tx.end.position || (next == nil && size == tx.end.position)
            if !endsAnEvent || !(last.type == 16 || last.type == 2) { notBoundary.append("\(tx.end) after type \(last.type)") }
        }
        #expect(notBoundary.isEmpty, "positions that are not transaction boundaries: \(notBoundary.prefix(5))")
        #expect(files.count >= 2, "the restart rotated the binlog: \(files.keys.sorted())")
        // The big transaction's row events are over 16 MB each (more than one protocol packet).
        let largest = files.values.map { e in zip(e, e.dropFirst()).map { $1.offset - $0.offset }.max() ?? 0 }.max() ?? 0
        #expect(largest > 16_777_215, "largest event in the files applied: \(largest) bytes")

        // Both breaks were logged and counted as source reconnects.
        let lines = log.lines
        #expect(lines.filter { $0.contains("binlog connection lost; reconnecting") }.count >= 2, "\(lines.suffix(30))")
        #expect(lines.filter { $0.contains("reconnected to the source") }.count >= 2, "\(lines.suffix(30))")
        let reconnects = daemon.metrics.render().split(separator: "\n").first { $0.hasPrefix("binlog_reconciler_reconnects_total{target=\"source\"}") }
        let count = reconnects.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        #expect(count >= 2, "reconnects_total{target=source}: \(reconnects ?? "absent")")
        #expect(!lines.contains { $0.contains("binlog tail stopped") || $0.contains("daemon.run threw") }, "\(lines.suffix(30))")
    }

    /// A reconnect that reaches another server (here: MariaDB restarted with another server_id, as
    /// after a failover behind the same address) must not resume by file and position, which name
    /// other events on another server: the daemon notices the server id change, resumes by GTID and
    /// records the new server for its checkpoints. Restores server_id 1 at the end.
    @Test func aSourceWithAnotherServerIDIsFollowedByGTID() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "sid_\(n)", prefix = "sid\(n)"
        _ = try TestEnv.sql("""
            CREATE DATABASE \(db);
            CREATE TABLE \(db).products (id BIGINT PRIMARY KEY, stock INT) ENGINE=InnoDB;
            INSERT INTO \(db).products SELECT seq, 100 FROM \(db).seq_1_to_50;
            """)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        let live = try LiveDaemon(db: db, prefix: prefix, report: "/dev/null", label: "server-id-test")
        let daemon = live.daemon, log = live.log
        defer {
            live.stop()
            #expect(restartMariaDB() == 0, "restoring server_id 1 failed")
        }
        try waitFor("the daemon to start tailing", log) { daemon.shared.withLock { $0.lastEventEnd != nil } }
        #expect(daemon.shared.withLock { $0.sourceIdentity.serverID } == 1)
        for i in 1...20 { _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock - \(i) WHERE id = \(i)") }

        #expect(restartMariaDB("--server-id=77") == 0, "restarting MariaDB with server_id 77 failed")
        for i in 21...40 { _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock - \(i) WHERE id = \(i)") }
        _ = try TestEnv.sql("DELETE FROM \(db).products WHERE id = 50")
        try waitUntilCaughtUp(live)
        let (shadow, expected) = try shadowAndSelect(daemon, db: db)
        #expect(shadow == expected, "shadow differs from SELECT: \(expected.filter { shadow[$0.key] != $0.value }.prefix(5))")
        let lines = log.lines
        #expect(lines.contains { $0.contains("the source is another server now; resuming by GTID") }, "\(lines.suffix(20))")
        #expect(lines.contains { $0.contains("the source is another server now; following it by GTID") }, "\(lines.suffix(20))")
        #expect(daemon.shared.withLock { $0.sourceIdentity.serverID } == 77)
        #expect(!lines.contains { $0.contains("binlog tail stopped") || $0.contains("daemon.run threw") }, "\(lines.suffix(20))")
    }

    /// Waits until `condition` holds, or fails with the end of the log.
    func waitFor(_ what: String, _ log: CapturedLog, seconds: Double = 20, _ condition: () -> Bool) throws {
        let deadline = monotonicSeconds() + seconds
        while !condition() {
            if monotonicSeconds() > deadline { throw TestFailure("timed out waiting for \(what); log: \(log.lines.suffix(20).joined(separator: "\n"))") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Waits until the daemon applied everything in the source's binlog now.
    func waitUntilCaughtUp(_ live: LiveDaemon) throws {
        let end = try #require(try TestEnv.sql("SHOW MASTER STATUS").first)
        let endPosition = BinlogCoordinates(file: end[0], position: UInt64(end[1]) ?? 0)
        let daemon = live.daemon
        try waitFor("the daemon to reach \(endPosition)", live.log, seconds: 40) { !(daemon.shared.withLock { $0.shadow.position } < endPosition) }
    }

    /// The first watch's shadow map and `SELECT id, stock` of the table, both as text ("NULL" for NULL).
    func shadowAndSelect(_ daemon: ReconcilerDaemon, db: String) throws -> (shadow: [String: String], expected: [String: String]) {
        var shadow: [String: String] = [:]
        daemon.shared.withLock { $0.shadow.maps[0].forEach { k, v in shadow[k.description] = v.redisText ?? "NULL" } }
        var expected: [String: String] = [:]
        for row in try TestEnv.sql("SELECT id, IFNULL(stock, 'NULL') FROM \(db).products") { expected[row[0]] = row[1] }
        return (shadow, expected)
    }

    /// Restarts the private MariaDB with `options`, fully detached (the server must not inherit
    /// this process's pipes); the exit status.
    func restartMariaDB(_ options: String = "") -> Int32 {
        let scripts = TestEnv.repoRoot.appendingPathComponent("scripts").path
        return ChildProcess.shell("'\(scripts)/mariadb-stop' >/dev/null 2>&1 </dev/null && '\(scripts)/mariadb-start' \(options) >/dev/null 2>&1 </dev/null")
    }
}

/// A ``ReconcilerDaemon`` for the watch of `DaemonCheckTests.config` (notifications and metrics
/// off), running on its own thread with its log captured.
final class LiveDaemon {
    let daemon: ReconcilerDaemon
    let log = CapturedLog()
    private var runner: TestThread?

    convenience init(db: String, prefix: String, report: String, label: String, onApplied: (@Sendable (CommittedTransaction, Double) -> Void)? = nil) throws {
        var config = try ReconcilerConfiguration.load(path: try DaemonCheckTests.config(db: db, prefix: prefix), environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        config.redis.notifications = .off
        config.metrics.listen = nil
        try self.init(config, report: report, label: label, onApplied: onApplied)
    }

    init(_ config: ReconcilerConfiguration, report: String, label: String = "live", onApplied: (@Sendable (CommittedTransaction, Double) -> Void)? = nil) throws {
        let log = self.log
        let daemon = ReconcilerDaemon(
            configuration: config, options: .init(), sink: try ReportSink(path: report),
            logger: Logger(label: label) { _ in CapturingLogHandler(log) })
        daemon.onApplied = onApplied
        self.daemon = daemon
        runner = TestThread {
            do { _ = try daemon.run() } catch { log.append("daemon.run threw: \(error)") }
        }
    }

    /// The report records written so far to `path`.
    func records(_ path: String) -> [[String: Any]] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Keys in the first watch's shadow map.
    func shadowCount() -> Int { daemon.shared.withLock { $0.shadow.maps[0].count } }

    func waitFor(_ what: String, seconds: Double, _ condition: () -> Bool) throws {
        let deadline = monotonicSeconds() + seconds
        while !condition() {
            if monotonicSeconds() > deadline { throw TestFailure("timed out waiting for \(what); log: \(log.lines.suffix(20).joined(separator: "\n"))") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Waits until the daemon applied everything in the source's binlog now.
    func waitUntilApplied() throws {
        let end = try #require(try TestEnv.sql("SHOW MASTER STATUS").first)
        let endPosition = BinlogCoordinates(file: end[0], position: UInt64(end[1]) ?? 0)
        try waitFor("the daemon to reach \(endPosition)", seconds: 40) { !(daemon.shared.withLock { $0.shadow.position } < endPosition) }
    }

    /// Shuts the daemon down and waits for it; idempotent.
    func stop() {
        guard let r = runner else { return }
        runner = nil
        daemon.requestShutdown()
        r.join()
    }
}

/// Random transactions on the watched table and an unrelated one, recording the GTID of each
/// committed transaction (`@@last_gtid`).
struct Writer {
    let db: String
    var conn: SQLConnection
    var gtids: [String] = []
    var rolledBack = 0
    var bigCommitted = false

    init(db: String) throws {
        self.db = db
        conn = try SQLConnection(configuration: TestSource.configuration())
        _ = try conn.execute("SET SESSION group_concat_max_len = 67108864")
    }

    mutating func reconnect() throws {
        conn = try SQLConnection(configuration: TestSource.configuration())
        _ = try conn.execute("SET SESSION group_concat_max_len = 67108864")
    }

    mutating func commit(_ statements: [String]) throws {
        for s in statements { _ = try conn.execute(s) }
        if let g = try conn.query("SELECT @@last_gtid").first?.first ?? nil, !g.isEmpty { gtids.append(g) }
    }

    func randomStatement(_ rng: inout SystemRandomNumberGenerator) -> String {
        let id = Int.random(in: 1...260, using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0, 1: return "INSERT INTO \(db).products (id, name, stock) VALUES (\(id), 'n\(id)', \(Int.random(in: 0...999, using: &rng))) ON DUPLICATE KEY UPDATE stock = VALUES(stock)"
        case 2: return "DELETE FROM \(db).products WHERE id = \(id)"
        case 3: return "UPDATE IGNORE \(db).products SET id = \(Int.random(in: 261...400, using: &rng)) WHERE id = \(id)"  // key change
        case 4: return "UPDATE \(db).products SET stock = NULL WHERE id = \(id)"
        case 5: return "UPDATE \(db).products SET stock = stock - 1 WHERE id BETWEEN \(id) AND \(id + 5)"
        case 6: return "REPLACE INTO \(db).other VALUES (\(id), \(Int.random(in: 0...99, using: &rng)))"
        default: return "UPDATE \(db).products SET stock = \(Int.random(in: 0...999, using: &rng)) WHERE id = \(id)"
        }
    }

    mutating func randomTransactions(_ count: Int, rng: inout SystemRandomNumberGenerator) throws {
        for _ in 0..<count {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...4:  // autocommit
                try commit([randomStatement(&rng)])
            case 5...7:  // multi-statement
                var s = ["START TRANSACTION"]
                for _ in 0..<Int.random(in: 2...6, using: &rng) { s.append(randomStatement(&rng)) }
                try commit(s + ["COMMIT"])
            default:  // rolled back: never applied
                _ = try conn.execute("START TRANSACTION")
                for _ in 0..<Int.random(in: 1...4, using: &rng) { _ = try conn.execute(randomStatement(&rng)) }
                _ = try conn.execute("ROLLBACK")
                rolledBack += 1
            }
        }
    }

    /// One transaction of two 17.9 MB row events on the watched table (a 17.9 MB value in, then
    /// out again, so later updates of that row stay small) with stock changes in it.
    mutating func bigTransaction() throws {
        let ids = try conn.query("SELECT MIN(id), MAX(id) FROM \(db).products")[0].map { $0 ?? "0" }
        try commit([
            "START TRANSACTION",
            "UPDATE \(db).products SET stock = 4242, pad = (SELECT GROUP_CONCAT(SHA2(seq, 256) ORDER BY seq SEPARATOR '') FROM \(db).seq_1_to_280000) WHERE id = \(ids[0])",
            "UPDATE \(db).products SET stock = stock + 1 WHERE id = \(ids[1])",
            "UPDATE \(db).products SET stock = 4243, pad = NULL WHERE id = \(ids[0])",
            "COMMIT",
        ])
        bigCommitted = true
    }
}

final class AppliedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var txs: [CommittedTransaction] = []
    func append(_ tx: CommittedTransaction) { lock.withLock { txs.append(tx) } }
    var all: [CommittedTransaction] { lock.withLock { txs } }
}

/// Log lines kept in memory, so a test can assert what the daemon logged.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

struct CapturingLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    init(_ log: CapturedLog) { self.log = log }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let meta = (metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        log.append("\(level) \(message) \(meta)")
    }
}
