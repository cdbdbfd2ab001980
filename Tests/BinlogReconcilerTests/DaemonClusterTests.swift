import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// `check` and `run` against the real Redis Cluster of `scripts/redis-cluster-start` (3 masters,
/// 3 replicas) with `[redis] mode = "cluster"`: reads routed to the master of each key's slot,
/// divergences found on every master, a reshard during `run` without a false alarm, repair
/// through the owning master.
@Suite(.serialized, .enabled(if: RedisClusterTestEnv.port != nil, "BR_REDIS_CLUSTER_PORT is not set (scripts/redis-cluster-start)"))
struct DaemonClusterTests {
    typealias Env = RedisClusterTestEnv

    /// The products table in MariaDB and the same stock in the cluster (`prefix:{id}:stock`,
    /// or with a literal hash tag, `prefix:{{{id}}}:stock` → `prefix:{17}:stock`).
    /// `base`: the seed and credentials (default: the cluster of BR_REDIS_CLUSTER_PORT).
    static func setUp(rows: Int, hashTag: Bool = false, base: RedisConfiguration? = nil) throws -> (db: String, prefix: String, template: String, cluster: RedisClusterClient) {
        let n = UInt32.random(in: 0...UInt32.max)
        let db = "cluster_\(n)", prefix = "ct\(n)"
        var sql = "CREATE DATABASE \(db); CREATE TABLE \(db).products (id BIGINT PRIMARY KEY, name VARCHAR(20), stock INT) ENGINE=InnoDB;\nINSERT INTO \(db).products VALUES "
        sql += (1...rows).map { "(\($0), 'p\($0)', \(100 + $0))" }.joined(separator: ",") + ";"
        _ = try TestEnv.sql(sql)
        let base = base ?? Env.configuration(Env.seed)
        let cluster = try RedisClusterClient(seeds: [base.endpoint], base: base)
        let template = hashTag ? "\(prefix):{{{id}}}:stock" : "\(prefix):{id}:stock"
        for i in 1...rows { try set(cluster, key(prefix, i, hashTag: hashTag), "\(100 + i)") }
        return (db, prefix, template, cluster)
    }

    static func key(_ prefix: String, _ id: Int, hashTag: Bool = false) -> String {
        hashTag ? "\(prefix):{\(id)}:stock" : "\(prefix):\(id):stock"
    }

    static func set(_ cluster: RedisClusterClient, _ key: String, _ value: String?) throws {
        _ = try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: "SET") { c, _ throws(RedisError) in
            try c.command(value.map { ["SET", key, $0] } ?? ["DEL", key])
        }
    }

    static func get(_ cluster: RedisClusterClient, _ key: String) throws -> String? {
        try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: "GET") { c, _ throws(RedisError) in try c.command(["GET", key]) }.string
    }

    static func tearDown(_ db: String, _ prefix: String, _ cluster: RedisClusterClient, rows: Int, hashTag: Bool = false) {
        _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(db)")
        for i in 1...rows { try? set(cluster, key(prefix, i, hashTag: hashTag), nil) }
    }

    /// `port`: the first node's (default BR_REDIS_CLUSTER_PORT).
    static func config(db: String, template: String, extra: String = "", reconcile: String = "", port: Int? = nil) throws -> String {
        let port = try #require(port ?? Env.port)
        let toml = """
            [source]
            host = "127.0.0.1"
            port = \(DaemonCheckTests.mysqlPort)
            user = "reconciler"
            password_env = "BR_TEST_MYSQL_PASSWORD"
            server_id = \(Int.random(in: 1000...60000))

            [redis]
            mode = "cluster"
            nodes = ["127.0.0.1:\(port + 1)", "127.0.0.1:\(port)"]
            notifications = "tracking"
            \(extra)

            [[watch]]
            name = "stock"
            table = "\(db).products"
            key = "id"
            value = "stock"
            redis_key = "\(template)"

            [reconcile]
            sweep_interval_seconds = 1
            \(reconcile)
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-cluster-\(db).toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Keys whose slots are served by three different masters (so every master is read).
    static func oneKeyPerMaster(_ cluster: RedisClusterClient, prefix: String, rows: Int, hashTag: Bool = false) -> [Int] {
        var byShard: [Int: Int] = [:]
        for i in 1...rows {
            guard let s = cluster.topology.shardIndex(forKey: key(prefix, i, hashTag: hashTag)) else { continue }
            if byShard[s] == nil { byShard[s] = i }
        }
        return byShard.values.sorted()
    }

    @Test func checkFindsADivergenceOnEveryMaster() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 3000
        let (db, prefix, template, cluster) = try Self.setUp(rows: rows)
        defer { Self.tearDown(db, prefix, cluster, rows: rows) }
        let picked = Self.oneKeyPerMaster(cluster, prefix: prefix, rows: rows)
        #expect(picked.count == 3, "three masters serve the keys: \(cluster.topology.shards.map(\.master))")
        // A wrong value on one master, a missing key on another, another type on the third.
        try Self.set(cluster, Self.key(prefix, picked[0]), "1")
        try Self.set(cluster, Self.key(prefix, picked[1]), nil)
        let third = Self.key(prefix, picked[2])
        try Self.set(cluster, third, nil)
        _ = try cluster.withSlotOwner(RedisClusterSlot.slot(of: third), doing: "RPUSH") { c, _ throws(RedisError) in try c.command(["RPUSH", third, "x"]) }
        let r = try DaemonCheckTests.check(try Self.config(db: db, template: template))
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let found = r.records.filter { $0["event"] as? String == "divergence" }
        let kinds = Dictionary(uniqueKeysWithValues: found.compactMap { d -> (String, String)? in
            guard let k = d["key"] as? String, let kind = d["kind"] as? String else { return nil }
            return (k, kind)
        })
        #expect(kinds == [String(picked[0]): "redis_lower", String(picked[1]): "missing", String(picked[2]): "wrong_type"], "\(found)")
        #expect(r.stderr.contains("Redis Cluster"), "\(r.stderr.prefix(2000))")
    }

    /// `{{` `}}` in the template: `prefix:{17}:stock`, the hash tag `{17}` decides the slot.
    @Test func hashTaggedKeysAreReadOnTheirSlotsMaster() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 500
        let (db, prefix, template, cluster) = try Self.setUp(rows: rows, hashTag: true)
        defer { Self.tearDown(db, prefix, cluster, rows: rows, hashTag: true) }
        #expect(RedisClusterSlot.slot(of: Self.key(prefix, 17, hashTag: true)) == RedisClusterSlot.slot(of: "17"))
        let picked = Self.oneKeyPerMaster(cluster, prefix: prefix, rows: rows, hashTag: true)
        for p in picked { try Self.set(cluster, Self.key(prefix, p, hashTag: true), "7") }
        let r = try DaemonCheckTests.check(try Self.config(db: db, template: template))
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let keys = r.records.filter { $0["event"] as? String == "divergence" }.compactMap { $0["redis_key"] as? String }.sorted()
        #expect(keys == picked.map { Self.key(prefix, $0, hashTag: true) }.sorted(), "\(r.records)")
    }

    /// `run` with sweeps every second while 1,000 slots move between masters and the shop keeps
    /// writing (MySQL and Redis together): every read that raced a migration is retried, none is
    /// taken for an observation, so nothing is reported; then a divergence made after the
    /// reshard is found and repaired through the key's new master.
    @Test func aReshardDuringRunGivesNoFalseAlarmAndRepairStillWorks() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 20_000
        let (db, prefix, template, cluster) = try Self.setUp(rows: rows)
        defer { Self.tearDown(db, prefix, cluster, rows: rows) }
        let config = try Self.config(db: db, template: template, reconcile: "repair = true")
        let run = try RunningDaemon(config: config, name: db)
        defer { run.stop() }

        // The shop writes while the slots move: MySQL first, then Redis (as the application).
        let writer = Thread {
            guard let cluster = try? RedisClusterClient(seeds: [Env.seed], base: Env.configuration(Env.seed)) else { return }
            for round in 0..<40 {
                let id = 1 + (round * 487) % rows
                _ = try? TestEnv.sql("UPDATE \(db).products SET stock = stock - 1 WHERE id = \(id)")
                if let v = try? TestEnv.sql("SELECT stock FROM \(db).products WHERE id = \(id)").first?.first ?? nil {
                    try? Self.set(cluster, Self.key(prefix, id), v)
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        writer.start()
        // From the master with the most slots to the one with the fewest, so repeated runs keep
        // the cluster balanced (a master left without slots becomes a replica).
        try cluster.refresh()
        let bySlots = cluster.masters.map { cluster.topology.shards[$0.shard] }.sorted { $0.slotCount > $1.slotCount }
        guard case .tcp(_, let from)? = bySlots.first?.master.endpoint, case .tcp(_, let to)? = bySlots.last?.master.endpoint else {
            throw TestFailure("no masters: \(cluster.topology.shards)")
        }
        let reshard = try Self.clusterScript(["scripts/redis-cluster", "reshard", "1000", String(from), String(to)])
        #expect(reshard.status == 0, "reshard: \(reshard.stderr.suffix(2000))")
        while writer.isExecuting { Thread.sleep(forTimeInterval: 0.1) }
        Thread.sleep(forTimeInterval: 3)
        let quiet = run.report
        #expect(!quiet.contains("\"divergence\""), "false alarm during the reshard: \(quiet.prefix(3000))")

        // After the reshard: a real divergence, found and repaired on the key's (new) master.
        try cluster.refresh()
        let victim = Self.key(prefix, 4242)
        try Self.set(cluster, victim, "0")
        var repaired = false
        for _ in 0..<100 {
            Thread.sleep(forTimeInterval: 0.2)
            if try Self.get(cluster, victim) == "\(100 + 4242)" { repaired = true; break }
        }
        run.process.terminate()
        run.process.waitUntilExit()
        let (report, stderr) = (run.report, run.log)
        #expect(repaired, "the divergence was not repaired: \(report.suffix(2000)) \(stderr.suffix(3000))")
        let divergences = run.records.filter { $0["event"] as? String == "divergence" }
        #expect(divergences.compactMap { $0["key"] as? String } == ["4242"], "\(report.prefix(3000))")
        // The sweeps did race the migration: MOVED (or ASK) answers were followed.
        #expect(stderr.contains("Redis Cluster slot map read again"), "\(stderr.suffix(3000))")
    }

    /// The port of the master that serves `key` now.
    static func masterPort(of key: String, _ cluster: RedisClusterClient) throws -> Int {
        try cluster.refresh()
        guard let m = cluster.topology.master(forSlot: RedisClusterSlot.slot(of: key)), case .tcp(_, let port) = m.endpoint else {
            throw TestFailure("no master for \(key)")
        }
        return port
    }

    /// Runs a cluster script through `system(3)`, its output in files: `redis-cluster-start`
    /// daemonizes nodes, and Foundation's `Process` was seen to wait forever for such a script.
    static func clusterScript(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let port = try #require(Env.port)
        let base = NSTemporaryDirectory() + "br-cluster-script-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base + ".out"); try? FileManager.default.removeItem(atPath: base + ".err") }
        let script = TestEnv.repoRoot.appendingPathComponent(args[0]).path
        let command = "BR_REDIS_CLUSTER_PORT=\(port) bash '\(script)' \(args.dropFirst().joined(separator: " ")) </dev/null >'\(base).out' 2>'\(base).err'"
        let status = system(command)
        let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return (status == 0 ? 0 : 1, out, err)
    }

    /// A `CLUSTER FAILOVER` (coordinated: nothing lost) during `run`: one `summary` record,
    /// `redis_failover`, naming the promoted node and its slots; no divergence.
    @Test func aFailoverIsOneSummaryNamingTheNewMaster() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 3000
        let (db, prefix, template, cluster) = try Self.setUp(rows: rows)
        defer { Self.tearDown(db, prefix, cluster, rows: rows) }
        let run = try RunningDaemon(config: try Self.config(db: db, template: template), name: db)
        defer { run.stop() }
        let old = try Self.masterPort(of: Self.key(prefix, 1), cluster)
        let f = try Self.clusterScript(["scripts/redis-cluster", "failover", String(old)])
        #expect(f.status == 0, "\(f.stderr.suffix(2000))")
        let promoted = Int(f.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        _ = run.waitForRecords("summary", seconds: 15)
        Thread.sleep(forTimeInterval: 2)
        let summaries = run.records.filter { $0["event"] as? String == "summary" }
        #expect(summaries.count == 1, "\(run.records) \(run.log.suffix(3000))")
        let s = try #require(summaries.first)
        #expect(s["reason"] as? String == "redis_failover")
        #expect(s["redis_node"] as? String == "127.0.0.1:\(promoted)", "\(s)")
        #expect((s["slots"] as? String)?.isEmpty == false, "\(s)")
        #expect(run.records.filter { $0["event"] as? String == "divergence" }.isEmpty, "\(run.records)")
    }

    /// A master killed with SIGKILL and replaced by its replica (cluster-node-timeout 5 s): one
    /// summary for that shard's new master, written after the sweep that follows; every
    /// divergence reported is a key whose Redis value really differs from MySQL at the end. The
    /// killed node is started again (it rejoins as a replica) so the cluster is whole afterwards.
    @Test func aKilledMasterReplacedByItsReplicaIsOneSummary() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 3000
        let (db, prefix, template, cluster) = try Self.setUp(rows: rows)
        defer { Self.tearDown(db, prefix, cluster, rows: rows) }
        let run = try RunningDaemon(config: try Self.config(db: db, template: template), name: db)
        defer { run.stop() }
        let victim = try Self.masterPort(of: Self.key(prefix, 1), cluster)
        let info = try TestEnv.run("redis-cli", ["-p", String(victim), "INFO", "server"]).stdout
        let pid = try #require(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("process_id:") }.flatMap { Int32($0.dropFirst(11)) })
        let killedAt = Date()
        kill(pid, SIGKILL)
        defer {
            // Back as a replica of the promoted node (wait for the promotion first: a master that
            // comes back before its replica took over would come back empty).
            let again = try? Self.clusterScript(["scripts/redis-cluster-start"])
            #expect(again?.status == 0, "\(again?.stderr.suffix(2000) ?? "")")
        }
        _ = run.waitForRecords("summary", seconds: 30)
        let seconds = Date().timeIntervalSince(killedAt)
        Thread.sleep(forTimeInterval: 2)
        let summaries = run.records.filter { $0["event"] as? String == "summary" }
        #expect(summaries.count == 1, "\(run.records) \(run.log.suffix(3000))")
        #expect(summaries.first?["reason"] as? String == "redis_failover", "\(summaries)")
        #expect(summaries.first?["redis_node"] as? String != "127.0.0.1:\(victim)", "\(summaries)")
        print("[DaemonClusterTests] SIGKILL of master 127.0.0.1:\(victim) to the summary: \(String(format: "%.1f", seconds)) s")
        // Every divergence reported really differs at the end.
        try cluster.refresh()
        for d in run.records where d["event"] as? String == "divergence" {
            let id = try #require((d["key"] as? String).flatMap { Int($0) })
            let mysql = try TestEnv.sql("SELECT stock FROM \(db).products WHERE id = \(id)").first?.first ?? nil
            #expect(try Self.get(cluster, Self.key(prefix, id)) != mysql, "reported \(id) but Redis agrees with MySQL: \(d)")
        }
    }

    /// `doctor --json` in cluster mode: every seed asked (an unreachable one is a warning), the
    /// slot coverage, each master's cluster_state.
    @Test func doctorChecksTheClusterAndEverySeed() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let port = try #require(Env.port)
        var toml = try String(contentsOfFile: try Self.config(db: "shop", template: "product:{id}:stock"), encoding: .utf8)
        toml = toml.replacingOccurrences(of: "nodes = [", with: "nodes = [\"127.0.0.1:1\", ")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-cluster-doctor-\(UUID().uuidString).toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try TestEnv.run(TestEnv.cli, ["doctor", "--config", path, "--json"], environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        let findings = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        func with(_ check: String) -> [[String: Any]] { findings.filter { $0["check"] as? String == check } }
        #expect(with("redis.cluster.slots").first?["severity"] as? String == "ok", "\(r.stdout)")
        let states = with("redis.cluster.state")
        #expect(states.count == 3 && states.allSatisfy { $0["severity"] as? String == "ok" }, "\(states)")
        let seeds = with("redis.cluster.seed").map { ($0["severity"] as? String ?? "", $0["detail"] as? String ?? "") }
        #expect(seeds.contains { $0.0 == "warning" && $0.1.hasPrefix("127.0.0.1:1:") }, "\(seeds)")
        #expect(seeds.contains { $0.0 == "ok" && $0.1.hasPrefix("127.0.0.1:\(port)") }, "\(seeds)")
    }
}
