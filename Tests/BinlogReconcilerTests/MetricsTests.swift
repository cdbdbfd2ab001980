import Dispatch
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The exposition's sample lines as `name{labels}` → value (HELP/TYPE lines dropped).
func samples(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = v
    }
    return out
}

@Suite struct ReconcilerMetricsTests {
    @Test func everySeriesIsDeclaredAndClosedLabelSetsStartAtZero() {
        let m = ReconcilerMetrics()
        let text = m.render()
        let families = [
            "binlog_position_bytes gauge", "seconds_behind_source gauge", "apply_lag_seconds histogram",
            "events_applied_total counter", "rows_applied_total counter", "transactions_applied_total counter",
            "reads_total counter", "suspects gauge", "divergences_total counter", "repairs_total counter",
            "sweep_duration_seconds histogram", "sweep_keys_per_second gauge", "redis_errors_total counter",
            "reconnects_total counter", "last_checkpoint_age_seconds gauge", "checkpoint_failures_total counter",
            "redis_lead_seconds histogram",
        ]
        for f in families {
            #expect(text.contains("# TYPE binlog_reconciler_\(f)\n"), "\(f)")
        }
        let s = samples(text)
        for t in ["change", "notification", "sweep", "confirm"] {
            #expect(s["binlog_reconciler_reads_total{trigger=\"\(t)\"}"] == 0)
        }
        for t in ["source", "redis"] { #expect(s["binlog_reconciler_reconnects_total{target=\"\(t)\"}"] == 0) }
        for r in ["repaired", "conflict", "failed"] { #expect(s["binlog_reconciler_repairs_total{result=\"\(r)\"}"] == 0) }
        for k in ["missing", "orphan", "redis_higher", "redis_lower", "not_a_number", "wrong_type", "mismatch"] {
            #expect(s["binlog_reconciler_divergences_total{kind=\"\(k)\"}"] == 0)
        }
        // Every sample line is one of ours.
        for line in text.split(separator: "\n") {
            #expect(line.hasPrefix("binlog_reconciler_") || line.hasPrefix("# HELP binlog_reconciler_") || line.hasPrefix("# TYPE binlog_reconciler_"))
        }
    }

    @Test func binlogFileIsALabelThatMovesWithTheFile() {
        let m = ReconcilerMetrics()
        m.setBinlogPosition(BinlogCoordinates(file: "mysql-bin.000041", position: 1234))
        var s = samples(m.render())
        #expect(s["binlog_reconciler_binlog_file_info{file=\"mysql-bin.000041\"}"] == 1)
        #expect(s["binlog_reconciler_binlog_position_bytes"] == 1234)
        m.setBinlogPosition(BinlogCoordinates(file: "mysql-bin.000041", position: 5000))
        m.setBinlogPosition(BinlogCoordinates(file: "mysql-bin.000042", position: 4))
        s = samples(m.render())
        #expect(s["binlog_reconciler_binlog_file_info{file=\"mysql-bin.000042\"}"] == 1)
        #expect(s["binlog_reconciler_binlog_file_info{file=\"mysql-bin.000041\"}"] == nil)
        #expect(s["binlog_reconciler_binlog_position_bytes"] == 4)
    }

    @Test func applyPathCountersAndLagHistogram() {
        let m = ReconcilerMetrics()
        m.recordTransactionApplied(events: 5, rows: 3, applyLag: 0.3)
        m.recordTransactionApplied(events: 4, rows: 1, applyLag: 2.5)
        m.recordTransactionApplied(events: 3, rows: 0, applyLag: -1)  // clock skew: counted as 0
        m.recordTransactionApplied(events: 3, rows: 1, applyLag: nil)  // unknown: not observed
        m.recordTransactionApplied(events: 3, rows: 1, applyLag: .nan)  // dropped
        m.setSecondsBehindSource(7)
        let s = samples(m.render())
        #expect(s["binlog_reconciler_transactions_applied_total"] == 5)
        #expect(s["binlog_reconciler_events_applied_total"] == 18)
        #expect(s["binlog_reconciler_rows_applied_total"] == 6)
        #expect(s["binlog_reconciler_apply_lag_seconds_count"] == 3)
        #expect(abs((s["binlog_reconciler_apply_lag_seconds_sum"] ?? 0) - 2.8) < 1e-9)
        #expect(s["binlog_reconciler_apply_lag_seconds_bucket{le=\"0.01\"}"] == 1)
        #expect(s["binlog_reconciler_apply_lag_seconds_bucket{le=\"0.5\"}"] == 2)
        #expect(s["binlog_reconciler_apply_lag_seconds_bucket{le=\"5.0\"}"] == 3)
        #expect(s["binlog_reconciler_apply_lag_seconds_bucket{le=\"+Inf\"}"] == 3)
        #expect(s["binlog_reconciler_seconds_behind_source"] == 7)
    }

    /// The per-node Redis series of cluster and Sentinel modes.
    @Test func perNodeRedisSeries() {
        let m = ReconcilerMetrics()
        m.recordMasterRead(node: "127.0.0.1:7000", keys: 30)
        m.recordMasterRead(node: "127.0.0.1:7000", keys: 12)
        m.recordMasterRead(node: "127.0.0.1:7001", keys: 0)
        m.recordReplicaRead(node: "127.0.0.1:7003", keys: 100, staleness: 0.04)
        m.recordReplicaSkip(.behind, keys: 5)
        m.recordReads(7, trigger: .recheck)
        // Totals as the client counts them: only the growth is added.
        m.setClusterNodeRedirects(["127.0.0.1:7001": (moved: 3, ask: 1)])
        m.setClusterNodeRedirects(["127.0.0.1:7001": (moved: 5, ask: 1), "127.0.0.1:7002": (moved: 0, ask: 2)])
        m.recordIncident(reason: "redis_failover", node: "127.0.0.1:7003")
        let s = samples(m.render())
        #expect(s["binlog_reconciler_redis_master_reads_total{node=\"127.0.0.1:7000\"}"] == 42)
        #expect(s["binlog_reconciler_redis_master_reads_total{node=\"127.0.0.1:7001\"}"] == nil)
        #expect(s["binlog_reconciler_redis_replica_reads_total{node=\"127.0.0.1:7003\"}"] == 100)
        #expect(s["binlog_reconciler_redis_replica_staleness_seconds{node=\"127.0.0.1:7003\"}"] == 0.04)
        #expect(s["binlog_reconciler_redis_replica_skips_total{reason=\"behind\"}"] == 5)
        #expect(s["binlog_reconciler_redis_replica_skips_total{reason=\"unavailable\"}"] == 0)
        #expect(s["binlog_reconciler_reads_total{trigger=\"recheck\"}"] == 7)
        #expect(s["binlog_reconciler_redis_cluster_node_redirects_total{node=\"127.0.0.1:7001\",kind=\"moved\"}"] == 5)
        #expect(s["binlog_reconciler_redis_cluster_node_redirects_total{node=\"127.0.0.1:7001\",kind=\"ask\"}"] == 1)
        #expect(s["binlog_reconciler_redis_cluster_node_redirects_total{node=\"127.0.0.1:7002\",kind=\"ask\"}"] == 2)
        #expect(s["binlog_reconciler_redis_incidents_total{reason=\"redis_failover\",node=\"127.0.0.1:7003\"}"] == 1)
    }

    @Test func reconcilerSeries() {
        let m = ReconcilerMetrics()
        m.setKeysTracked(10, watch: "stock")
        m.setKeysTracked(3, watch: "price")
        m.setKeysTracked(12, watch: "stock")
        m.recordReads(trigger: .change)
        m.recordReads(500, trigger: .sweep)
        m.recordReads(2, trigger: .confirm)
        m.recordReads(0, trigger: .notification)
        m.setSuspects(4)
        m.setOpenDivergences(2, watch: "stock", kind: .redisHigher)
        m.setOpenDivergences(1, watch: "stock", kind: .missing)
        m.recordDivergenceOpened(kind: .redisHigher)
        m.recordDivergenceOpened(kind: .redisHigher)
        m.recordDivergenceOpened(kind: .missing)
        m.recordRepair(.repaired)
        m.recordRepair(.conflict)
        m.recordRepair(.repaired)
        m.recordSweep(keys: 1000, duration: .seconds(2))
        m.recordRedisError()
        m.recordReconnect(.redis)
        m.recordReconnect(.source)
        m.recordReconnect(.source)
        m.recordCheckpointFailure()
        let s = samples(m.render())
        #expect(s["binlog_reconciler_keys_tracked{watch=\"stock\"}"] == 12)
        #expect(s["binlog_reconciler_keys_tracked{watch=\"price\"}"] == 3)
        #expect(s["binlog_reconciler_reads_total{trigger=\"change\"}"] == 1)
        #expect(s["binlog_reconciler_reads_total{trigger=\"sweep\"}"] == 500)
        #expect(s["binlog_reconciler_reads_total{trigger=\"confirm\"}"] == 2)
        #expect(s["binlog_reconciler_reads_total{trigger=\"notification\"}"] == 0)
        #expect(s["binlog_reconciler_suspects"] == 4)
        #expect(s["binlog_reconciler_divergences_open{watch=\"stock\",kind=\"redis_higher\"}"] == 2)
        #expect(s["binlog_reconciler_divergences_open{watch=\"stock\",kind=\"missing\"}"] == 1)
        #expect(s["binlog_reconciler_divergences_total{kind=\"redis_higher\"}"] == 2)
        #expect(s["binlog_reconciler_divergences_total{kind=\"missing\"}"] == 1)
        #expect(s["binlog_reconciler_divergences_total{kind=\"orphan\"}"] == 0)
        #expect(s["binlog_reconciler_repairs_total{result=\"repaired\"}"] == 2)
        #expect(s["binlog_reconciler_repairs_total{result=\"conflict\"}"] == 1)
        #expect(s["binlog_reconciler_repairs_total{result=\"failed\"}"] == 0)
        #expect(s["binlog_reconciler_sweep_duration_seconds_count"] == 1)
        #expect(s["binlog_reconciler_sweep_duration_seconds_sum"] == 2)
        #expect(s["binlog_reconciler_sweep_keys_per_second"] == 500)
        #expect(s["binlog_reconciler_redis_errors_total"] == 1)
        #expect(s["binlog_reconciler_reconnects_total{target=\"redis\"}"] == 1)
        #expect(s["binlog_reconciler_reconnects_total{target=\"source\"}"] == 2)
        #expect(s["binlog_reconciler_checkpoint_failures_total"] == 1)
    }

    @Test func redisLeadIsSigned() {
        let m = ReconcilerMetrics()
        m.recordRedisLead(seconds: 0.3)  // Redis led by 0.3 s
        m.recordRedisLead(seconds: -1.5)  // Redis lagged by 1.5 s
        m.recordRedisLead(seconds: 0)
        m.recordRedisLead(seconds: .infinity)  // dropped
        let s = samples(m.render())
        #expect(s["binlog_reconciler_redis_lead_seconds_count"] == 3)
        #expect(abs((s["binlog_reconciler_redis_lead_seconds_sum"] ?? 0) + 1.2) < 1e-9)
        #expect(s["binlog_reconciler_redis_lead_seconds_bucket{le=\"-2.0\"}"] == 0)
        #expect(s["binlog_reconciler_redis_lead_seconds_bucket{le=\"-1.0\"}"] == 1)
        #expect(s["binlog_reconciler_redis_lead_seconds_bucket{le=\"0.0\"}"] == 2)
        #expect(s["binlog_reconciler_redis_lead_seconds_bucket{le=\"0.25\"}"] == 2)
        #expect(s["binlog_reconciler_redis_lead_seconds_bucket{le=\"0.5\"}"] == 3)
    }

    @Test func checkpointAgeIsComputedAtRender() {
        let start = ContinuousClock.now
        let m = ReconcilerMetrics(now: start)
        #expect(samples(m.render(now: start + .seconds(30)))["binlog_reconciler_last_checkpoint_age_seconds"] == 30)
        m.recordCheckpointWritten(at: start + .seconds(40))
        #expect(samples(m.render(now: start + .milliseconds(42_500)))["binlog_reconciler_last_checkpoint_age_seconds"] == 2.5)
    }

    @Test func labelValuesAreEscaped() {
        let m = ReconcilerMetrics()
        m.setKeysTracked(1, watch: "we\"ird\\name")
        #expect(m.render().contains(#"binlog_reconciler_keys_tracked{watch="we\"ird\\name"} 1"#))
    }

    @Test func concurrentUpdatesFromSeveralThreadsAreCounted() {
        let m = ReconcilerMetrics()
        let threads = 8, perThread = 5_000
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                m.recordTransactionApplied(events: 3, rows: 2, applyLag: 0.1)
                m.recordReads(trigger: ReconcilerMetrics.ReadTrigger.allCases[i % 4])
                m.setKeysTracked(i, watch: "w\(t % 3)")
                m.setBinlogPosition(BinlogCoordinates(file: "mysql-bin.\(t % 2)", position: UInt64(i)))
                m.recordDivergenceOpened(kind: .orphan)
                if i % 1000 == 0 { _ = m.render() }
            }
        }
        let s = samples(m.render())
        let n = Double(threads * perThread)
        #expect(s["binlog_reconciler_transactions_applied_total"] == n)
        #expect(s["binlog_reconciler_events_applied_total"] == 3 * n)
        #expect(s["binlog_reconciler_rows_applied_total"] == 2 * n)
        #expect(s["binlog_reconciler_apply_lag_seconds_count"] == n)
        #expect(s["binlog_reconciler_divergences_total{kind=\"orphan\"}"] == n)
        let reads = ["change", "notification", "sweep", "confirm"].compactMap { s["binlog_reconciler_reads_total{trigger=\"\($0)\"}"] }
        #expect(reads == Array(repeating: n / 4, count: 4))
        // Exactly one file label survives the races.
        #expect(s.keys.filter { $0.hasPrefix("binlog_reconciler_binlog_file_info{") }.count == 1)
    }
}

@Suite struct HealthStateTests {
    @Test func staleAfterThreeHeartbeatPeriods() {
        let t0 = ContinuousClock.now
        let h = HealthState(heartbeatPeriod: .seconds(1), now: t0)
        #expect(h.check(now: t0).healthy)
        #expect(h.check(now: t0 + .seconds(3)).healthy)  // exactly 3 periods: not yet
        let stale = h.check(now: t0 + .milliseconds(3_200))
        #expect(!stale.healthy)
        #expect(stale.reasons == ["binlog stream stale: no event for 3.2 s (limit 3.0 s = 3 heartbeat periods)"])
        h.recordBinlogEvent(at: t0 + .seconds(3))
        #expect(h.check(now: t0 + .milliseconds(3_200)).healthy)
        h.recordBinlogEvent(at: t0 + .seconds(1))  // older: ignored
        #expect(h.lastBinlogEvent == t0 + .seconds(3))
        h.heartbeatPeriod = .milliseconds(50)
        #expect(!h.check(now: t0 + .milliseconds(3_200)).healthy)
    }

    @Test func redisAndCheckpointsFlipAndFlipBack() {
        let t0 = ContinuousClock.now
        let h = HealthState(heartbeatPeriod: .seconds(1), now: t0)
        h.setRedisReachable(false)
        #expect(!h.check(now: t0).healthy)
        #expect(h.check(now: t0).reasons == ["redis unreachable"])
        h.setCheckpointFailing(true)
        #expect(h.check(now: t0).reasons == ["redis unreachable", "checkpoints failing"])
        let all = h.check(now: t0 + .seconds(10))
        #expect(all.reasons.count == 3)
        h.setRedisReachable(true)
        #expect(h.check(now: t0).reasons == ["checkpoints failing"])
        #expect(!h.check(now: t0).healthy)
        h.setCheckpointFailing(false)
        #expect(h.check(now: t0).healthy)
        #expect(h.check(now: t0).reasons.isEmpty)
    }
}
