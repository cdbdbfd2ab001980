import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// A cluster node's incident sweeps that node's slots only; the report stream follows its key's
/// slot when it moves. Part of the `.serialized` DaemonClusterTests suite (same cluster).
extension DaemonClusterTests {
    /// The suite's configuration with the periodic sweep 10 minutes away (so the only sweeps
    /// after the first are those an incident asks for), `notifications` and a `/metrics` port.
    static func incidentConfig(db: String, template: String, notifications: String, metricsPort: Int, reconcile: String = "") throws -> String {
        let path = try config(db: db, template: template, reconcile: reconcile)
        var toml = try String(contentsOfFile: path, encoding: .utf8)
        toml = toml.replacingOccurrences(of: "sweep_interval_seconds = 1", with: "sweep_interval_seconds = 600")
        toml = toml.replacingOccurrences(of: "notifications = \"tracking\"", with: "notifications = \"\(notifications)\"")
        toml += "\n\n[metrics]\nlisten = \"127.0.0.1:\(metricsPort)\"\n"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static var metricsPort: Int {
        ProcessInfo.processInfo.environment["BR_METRICS_PORT"].flatMap { Int($0) } ?? Int.random(in: 20000...29999)
    }

    /// A gauge of `/metrics` (`binlog_reconciler_NAME value`).
    static func gauge(_ name: String, port: Int) -> Double? {
        guard let body = try? MetricsHTTPClient.request("GET", "/metrics", port: port).body else { return nil }
        let line = body.split(separator: "\n").first { $0.hasPrefix("binlog_reconciler_\(name) ") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    /// Waits until `condition` holds (every 0.25 s, up to `seconds`).
    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.25)
        }
        return condition()
    }

    /// The `record` field of each entry of an `XRANGE` reply (the report stream's JSON lines).
    static func streamRecords(_ reply: RedisReply?) -> [String] {
        (reply?.array ?? []).compactMap { entry -> String? in
            guard let fields = entry.array?.last?.array?.compactMap(\.string), let i = fields.firstIndex(of: "record"), i + 1 < fields.count else { return nil }
            return fields[i + 1]
        }
    }

    /// The master serving `key` now: its port, shard index and slots.
    static func owner(of key: String, _ cluster: RedisClusterClient) throws -> (port: Int, shard: Int, slots: RedisClusterSlotSet) {
        let port = try masterPort(of: key, cluster)
        let shard = try #require(cluster.topology.shardIndex(forKey: key))
        return (port, shard, RedisClusterSlotSet(cluster.topology.shards[shard].slotRanges))
    }

    /// What a `run` saw of a `FLUSHALL` on one master (``flushingOneMaster(notifications:beforeFlush:_:)``).
    struct FlushedMaster {
        let run: RunningDaemon
        let metricsPort: Int
        let rows: Int
        let victim: (port: Int, shard: Int, slots: RedisClusterSlotSet)
        /// The ids whose key hashes to the flushed master's slots.
        let onVictim: [Int]
        let summary: [String: Any]
        var divergences: [[String: Any]] { run.records.filter { $0["event"] as? String == "divergence" } }
    }

    /// `run` on 3,000 rows (its first sweep done), `beforeFlush` (given the key prefix, the
    /// cluster and the ids outside the master of id 1), `FLUSHALL` on the master of id 1, then
    /// `check` once the summary is written and as many divergences as that master had keys.
    static func flushingOneMaster(
        notifications: String, beforeFlush: (String, RedisClusterClient, [Int]) throws -> Void = { _, _, _ in },
        _ check: (FlushedMaster) throws -> Void
    ) throws {
        let rows = 3000
        let (db, prefix, template, cluster) = try setUp(rows: rows)
        defer { tearDown(db, prefix, cluster, rows: rows) }
        let port = metricsPort
        let run = try RunningDaemon(config: try incidentConfig(db: db, template: template, notifications: notifications, metricsPort: port), name: db)
        defer { run.stop() }
        // The first sweep (every key) done.
        #expect(waitUntil(30) { gauge("sweep_keys_done", port: port) == Double(rows) && gauge("sweep_keys_total", port: port) == Double(rows) },
                "\(run.log.suffix(2000))")
        let victim = try owner(of: key(prefix, 1), cluster)
        let inSlots = Dictionary(grouping: 1...rows) { victim.slots.contains(RedisClusterSlot.slot(of: key(prefix, $0))) }
        let onVictim = inSlots[true] ?? []
        #expect(onVictim.count > rows / 5 && onVictim.count < rows * 3 / 5, "\(onVictim.count) of \(rows) keys on the flushed master")
        try beforeFlush(prefix, cluster, inSlots[false] ?? [])
        let flush = try TestEnv.run("redis-cli", ["-p", String(victim.port), "FLUSHALL"])
        #expect(flush.stdout.contains("OK"), "\(flush)")
        let summary = try #require(run.waitForRecords("summary", seconds: 15).first, "\(run.log.suffix(3000))")
        let flushed = FlushedMaster(run: run, metricsPort: port, rows: rows, victim: victim, onVictim: onVictim, summary: summary)
        // Every key of the flushed master is reported missing after C.
        #expect(waitUntil(20) { flushed.divergences.count >= onVictim.count })
        Thread.sleep(forTimeInterval: 2)
        try check(flushed)
    }

    /// `FLUSHALL` on one master (with client tracking on): one `redis_flush` summary naming it,
    /// written after a sweep of its slots only: `keys_checked` and the sweep gauges are the
    /// number of rows whose key hashes to its slots, not all rows; every one of those keys is
    /// reported missing, no other key is.
    @Test func aFlushedMasterIsSweptAloneAndItsKeysReported() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        try Self.flushingOneMaster(notifications: "tracking") { f in
            let summaries = f.run.records.filter { $0["event"] as? String == "summary" }
            #expect(summaries.count == 1, "\(summaries) \(f.run.log.suffix(3000))")
            let s = f.summary
            #expect(s["reason"] as? String == "redis_flush", "\(s)")
            #expect(s["redis_node"] as? String == "127.0.0.1:\(f.victim.port)", "\(s)")
            #expect(s["slots"] as? String == Reconciler.slotText(f.victim.slots.ranges), "\(s)")
            #expect(s["keys_checked"] as? Int == f.onVictim.count, "the sweep read only the flushed master's keys: \(s)")
            #expect(s["keys"] as? Int == f.onVictim.count, "every key of the flushed master was missing: \(s)")
            let divergences = f.divergences
            #expect(Set(divergences.compactMap { $0["key"] as? String }) == Set(f.onVictim.map(String.init)), "\(divergences.prefix(5))")
            #expect(divergences.count == f.onVictim.count && divergences.allSatisfy { $0["kind"] as? String == "missing" })
            // The sweep gauges describe the narrowed sweep (no full sweep ran since).
            #expect(Self.gauge("sweep_keys_total", port: f.metricsPort) == Double(f.onVictim.count))
            let log = f.run.log
            print("[DaemonClusterTests] FLUSHALL on 127.0.0.1:\(f.victim.port) (\(f.victim.slots.count) slots): keys_checked \(s["keys_checked"] ?? "-") of \(f.rows) rows, \(divergences.count) missing reported")
            #expect(log.contains("redis_flush: sweeping the keys of the node's slots"), "\(log.suffix(3000))")
            #expect(log.contains("sweep of the keys of some slots done"), "\(log.suffix(3000))")
            #expect(!log.contains("sweeping every key"), "\(log.suffix(3000))")
        }
    }

    /// With notifications off (the cluster watch alone sees the flush), a wrong value written on
    /// another master after the first sweep is not read by the incident's sweep: it is found by
    /// no read at all until a full sweep, so it is not reported, while the flushed master's keys
    /// are.
    @Test func theIncidentsSweepLeavesTheOtherMastersAlone() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        var elsewhere = 0
        try Self.flushingOneMaster(notifications: "off", beforeFlush: { prefix, cluster, others in
            elsewhere = try #require(others.first)
            try Self.set(cluster, Self.key(prefix, elsewhere), "1")
        }) { f in
            #expect(f.summary["keys_checked"] as? Int == f.onVictim.count, "\(f.summary)")
            let keys = Set(f.divergences.compactMap { $0["key"] as? String })
            #expect(keys == Set(f.onVictim.map(String.init)), "\(keys.count) keys reported, \(f.onVictim.count) flushed; \(elsewhere) on another master")
            #expect(!keys.contains(String(elsewhere)))
        }
    }

    /// `report_stream` on a cluster while the stream key's slot moves to another master: records
    /// written before, while the slot is half-migrated (the key already moved: `ASK`), and after
    /// (`MOVED`) are all in the stream on its new owner, and none was dropped.
    @Test func theReportStreamFollowsItsSlot() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 600
        let (db, prefix, template, cluster) = try Self.setUp(rows: rows)
        let stream = "\(prefix):reports"
        defer {
            Self.tearDown(db, prefix, cluster, rows: rows)
            try? Self.set(cluster, stream, nil)
        }
        let config = try Self.config(db: db, template: template, reconcile: "report_stream = \"\(stream)\"")
        let run = try RunningDaemon(config: config, name: db)
        defer { run.stop() }
        let slot = RedisClusterSlot.slot(of: stream)
        try cluster.refresh()
        let from = try #require(cluster.topology.shardIndex(forSlot: slot))
        let to = (from + 1) % cluster.topology.shards.count
        // Keys to break, none in the stream's slot (they would move with it).
        let victims = (1...rows).filter { RedisClusterSlot.slot(of: Self.key(prefix, $0)) != slot }.prefix(3).map { $0 }
        func diverge(_ i: Int) throws {
            try Self.set(cluster, Self.key(prefix, victims[i]), "1")
            #expect(Self.waitUntil(20) { run.records.filter { $0["event"] as? String == "divergence" }.count > i }, "\(run.log.suffix(2000))")
        }
        /// The `record` field of every entry on the master of `shard` (`asking`: the slot is
        /// being imported there).
        func entries(on shard: Int, asking: Bool = false) throws -> [String] {
            let c = try RedisClusterTestEnv.connect(cluster.topology.shards[shard].master.endpoint)
            let xrange = ["XRANGE", stream, "-", "+"]
            return Self.streamRecords(try asking ? c.commandAfterAsking(xrange) : c.command(xrange))
        }
        try diverge(0)
        #expect(Self.waitUntil(10) { (try? entries(on: from).count) == run.report.split(separator: "\n").count }, "\(run.log.suffix(2000))")

        let original = cluster.topology
        try RedisClusterLiveTests().migrate(slot: slot, in: original, from: from, to: to, firstKeys: [stream]) {
            // Half-migrated: the stream key is on the target; XADD on the source answers ASK, so
            // the record reaches the stream only through ASKING + XADD on the target.
            try diverge(1)
            let lines = run.report.split(separator: "\n").map(String.init)
            #expect(Self.waitUntil(10) { Set((try? entries(on: to, asking: true)) ?? []).isSuperset(of: lines) }, "\(run.log.suffix(3000))")
        }
        defer {
            // The slot back where it was (the cluster's balance for the other tests).
            try? cluster.refresh()
            try? RedisClusterLiveTests().migrate(slot: slot, in: cluster.topology, from: to, to: from)
        }
        try diverge(2)
        let lines = run.report.split(separator: "\n").map(String.init)
        #expect(lines.count >= 3)
        #expect(Self.waitUntil(10) { Set((try? entries(on: to)) ?? []).isSuperset(of: lines) }, "\(run.log.suffix(3000))")
        let written = try entries(on: to)
        #expect(Set(written).isSuperset(of: lines), "stream: \(written.count) entries, report: \(lines.count) records")
        #expect(written.count == lines.count, "no record written twice here (nothing was lost in transit)")
        #expect(!run.log.contains("report stream"), "nothing dropped, queued or failed: \(run.log.suffix(3000))")
        print("[DaemonClusterTests] report stream: \(written.count) records on 127.0.0.1:\(try Self.masterPort(of: stream, cluster)) after slot \(slot) moved")
    }
}
