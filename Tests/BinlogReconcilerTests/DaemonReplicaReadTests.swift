import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// `[redis] read_from = "replica"` against the real cluster of `scripts/redis-cluster-start` and
/// the Sentinel setup of `scripts/redis-sentinel-start`: sweeps and routine reads land on the
/// replicas (counted by each node's `INFO commandstats`), divergences are confirmed on the
/// masters, and a replica stopped with SIGSTOP for 5 s while the shop writes gives no false alarm.
@Suite(.serialized, .enabled(if: RedisClusterTestEnv.port != nil, "BR_REDIS_CLUSTER_PORT is not set (scripts/redis-cluster-start)"))
struct DaemonReplicaReadTests {
    typealias Cluster = DaemonClusterTests

    /// `GET` calls a node has served since its last `CONFIG RESETSTAT`.
    static func getCalls(_ endpoint: RedisConfiguration.Endpoint) throws -> Int { try calls("get", endpoint) }

    static func resetStats(_ endpoints: [RedisConfiguration.Endpoint]) throws {
        for e in endpoints { _ = try RedisConnection(configuration: RedisClusterTestEnv.configuration(e)).command(["CONFIG", "RESETSTAT"]) }
    }

    /// `check` reads the catalogue on the replicas; the three divergences (one per master) are
    /// confirmed on the masters and reported as they are with `read_from = "master"`.
    @Test func checkReadsReplicasAndConfirmsOnMasters() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 3000
        let (db, prefix, template, cluster) = try Cluster.setUp(rows: rows)
        defer { Cluster.tearDown(db, prefix, cluster, rows: rows) }
        let picked = Cluster.oneKeyPerMaster(cluster, prefix: prefix, rows: rows)
        try #require(picked.count == 3)
        try Cluster.set(cluster, Cluster.key(prefix, picked[0]), "1")
        try Cluster.set(cluster, Cluster.key(prefix, picked[1]), nil)
        try Cluster.set(cluster, Cluster.key(prefix, picked[2]), "99999")
        try cluster.refresh()
        let masters = cluster.masters.map(\.endpoint)
        let replicas = cluster.masters.flatMap { cluster.topology.shards[$0.shard].replicas.map(\.endpoint) }
        try #require(replicas.count == 3, "\(cluster.topology.shards)")
        Thread.sleep(forTimeInterval: 0.5)  // the writes reach the replicas
        try Self.resetStats(masters + replicas)
        let r = try DaemonCheckTests.check(try Cluster.config(db: db, template: template, extra: "read_from = \"replica\""))
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let kinds = Dictionary(uniqueKeysWithValues: r.records.filter { $0["event"] as? String == "divergence" }.compactMap { d -> (String, String)? in
            guard let k = d["key"] as? String, let kind = d["kind"] as? String else { return nil }
            return (k, kind)
        })
        #expect(kinds == [String(picked[0]): "redis_lower", String(picked[1]): "missing", String(picked[2]): "redis_higher"], "\(r.records)")
        let onReplicas = try replicas.reduce(0) { $0 + (try Self.getCalls($1)) }
        let onMasters = try masters.reduce(0) { $0 + (try Self.getCalls($1)) }
        // The sweep reads every key on a replica; the masters see the rechecks and confirmations
        // of the three keys (and nothing else reads them).
        #expect(onReplicas >= rows, "GETs on replicas \(onReplicas), on masters \(onMasters)")
        #expect(onMasters >= 3 && onMasters < 100, "GETs on replicas \(onReplicas), on masters \(onMasters)")
        #expect(r.stderr.contains("Redis reads from replicas"), "\(r.stderr.prefix(2000))")
    }

    /// `run` while the shop writes (MySQL, then Redis) ten times a second; one replica is stopped
    /// with SIGSTOP for 5 s: its keys are read on the master meanwhile, nothing is reported, reads
    /// go back to it after SIGCONT, and a divergence made afterwards is found.
    @Test func aReplicaStoppedForFiveSecondsGivesNoFalseAlarm() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 3000
        let (db, prefix, template, cluster) = try Cluster.setUp(rows: rows)
        defer { Cluster.tearDown(db, prefix, cluster, rows: rows) }
        try cluster.refresh()
        let shard = try #require(cluster.masters.first.map { cluster.topology.shards[$0.shard] })
        let replica = try #require(shard.replicas.first?.endpoint)
        let replicaConn = try RedisConnection(configuration: RedisClusterTestEnv.configuration(replica))
        let info = try replicaConn.command(["INFO", "server"]).string ?? ""
        let pid = try #require(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("process_id:") }.flatMap { Int32($0.dropFirst("process_id:".count)) })
        let config = try Cluster.config(db: db, template: template, extra: "read_from = \"replica\"")
        let run = try RunningDaemon(config: config, name: db)
        defer { run.stop() }
        var stopped = false
        defer { if stopped { kill(pid, SIGCONT) } }

        let writer = Thread {
            guard let cluster = try? RedisClusterClient(seeds: [RedisClusterTestEnv.seed], base: RedisClusterTestEnv.configuration(RedisClusterTestEnv.seed)) else { return }
            for round in 0..<120 {
                let id = 1 + (round * 487) % rows
                _ = try? TestEnv.sql("UPDATE \(db).products SET stock = stock - 1 WHERE id = \(id)")
                if let v = try? TestEnv.sql("SELECT stock FROM \(db).products WHERE id = \(id)").first?.first ?? nil {
                    try? Cluster.set(cluster, Cluster.key(prefix, id), v)
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        writer.start()
        Thread.sleep(forTimeInterval: 2)
        #expect(kill(pid, SIGSTOP) == 0)
        stopped = true
        Thread.sleep(forTimeInterval: 5)
        kill(pid, SIGCONT)
        stopped = false
        Thread.sleep(forTimeInterval: 2)
        try Self.resetStats([replica])
        Thread.sleep(forTimeInterval: 2.5)
        let afterResume = try Self.getCalls(replica)
        while writer.isExecuting { Thread.sleep(forTimeInterval: 0.1) }
        Thread.sleep(forTimeInterval: 3)
        #expect(!run.report.contains("\"divergence\""), "false alarm with a stopped replica: \(run.report.prefix(3000)) \(run.log.suffix(3000))")
        #expect(afterResume > 0, "no read on the replica after SIGCONT: \(run.log.suffix(2000))")

        // Recall: a lost write made now is found (confirmed on its master).
        let victim = 2024
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 5 WHERE id = \(victim)")
        let found = run.waitForRecords("divergence", seconds: 15)
        #expect(found.compactMap { $0["key"] as? String } == [String(victim)], "\(run.report.prefix(3000)) \(run.log.suffix(3000))")
    }

    /// Sentinel mode: `check` reads the primary's replica and confirms on the primary.
    @Test(.enabled(if: RedisSentinelTestEnv.port != nil, "BR_REDIS_SENTINEL_PORT is not set (scripts/redis-sentinel-start)"))
    func sentinelCheckReadsTheReplica() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 2000
        let (db, prefix) = try DaemonSentinelTests.setUp(rows: rows)
        defer { DaemonSentinelTests.tearDown(db, prefix, rows: rows) }
        let primary = try RedisSentinelTestEnv.primary()
        _ = try primary.command(["SET", "\(prefix):77:stock", "3"])
        let role = try primary.command(["ROLE"])
        let replicas = (role.array?[2].array ?? []).compactMap { r -> RedisConfiguration.Endpoint? in
            guard let a = r.array, a.count >= 2, let h = a[0].string, let p = a[1].integer else { return nil }
            return .tcp(host: h, port: Int(p))
        }
        try #require(!replicas.isEmpty, "\(role)")
        Thread.sleep(forTimeInterval: 0.5)
        try Self.resetStats(replicas + [primary.configuration.endpoint])
        let r = try DaemonCheckTests.check(try DaemonSentinelTests.config(db: db, prefix: prefix, extra: "read_from = \"replica\""))
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let found = r.records.filter { $0["event"] as? String == "divergence" }.compactMap { $0["key"] as? String }
        #expect(found == ["77"], "\(r.records)")
        // Sentinel mode reads with MGET batches: the sweep on the replica (key 77 a suspect there) and the
        // confirmation of key 77 on the primary.
        let onReplicas = try replicas.reduce(0) { $0 + (try Self.calls("mget", $1)) }
        let onPrimary = try Self.calls("mget", primary.configuration.endpoint)
        #expect(onReplicas > 0 && onPrimary >= 1 && onPrimary < 20, "MGETs on replicas \(onReplicas), on the primary \(onPrimary)")
    }

    /// Calls of `command` a node has served since its last `CONFIG RESETSTAT`.
    static func calls(_ command: String, _ endpoint: RedisConfiguration.Endpoint) throws -> Int {
        let c = try RedisConnection(configuration: RedisClusterTestEnv.configuration(endpoint))
        let text = try c.command(["INFO", "commandstats"]).string ?? ""
        guard let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
            let calls = line.split(separator: ",").first?.split(separator: "=").last.flatMap({ Int($0) })
        else { return 0 }
        return calls
    }
}
