import Prometheus
import Synchronization

/// The daemon's Prometheus series, with one typed update method per series.
///
/// Every series is named `binlog_reconciler_…`:
///
/// | series | type | labels | updated by |
/// |---|---|---|---|
/// | `binlog_file_info` | gauge (always 1) | `file` | ``setBinlogPosition(_:)`` |
/// | `binlog_position_bytes` | gauge | | ``setBinlogPosition(_:)`` |
/// | `seconds_behind_source` | gauge | | ``setSecondsBehindSource(_:)`` |
/// | `apply_lag_seconds` | histogram | | ``recordTransactionApplied(events:rows:applyLag:)`` |
/// | `events_applied_total`, `rows_applied_total`, `transactions_applied_total` | counter | | ``recordTransactionApplied(events:rows:applyLag:)`` |
/// | `keys_tracked` | gauge | `watch` | ``setKeysTracked(_:watch:)`` |
/// | `reads_total` | counter | `trigger` | ``recordReads(_:trigger:)`` |
/// | `suspects` | gauge | | ``setSuspects(_:)`` |
/// | `xa_prepared` | gauge | | ``setXAPrepared(count:oldestSeconds:)`` |
/// | `xa_oldest_prepared_seconds` | gauge | | ``setXAPrepared(count:oldestSeconds:)`` |
/// | `divergences_open` | gauge | `watch`, `kind` | ``setOpenDivergences(_:watch:kind:)`` |
/// | `divergences_total` | counter | `kind` | ``recordDivergenceOpened(kind:)`` |
/// | `repairs_total` | counter | `result` | ``recordRepair(_:)`` |
/// | `sweep_duration_seconds` | histogram | | ``recordSweep(keys:duration:)`` |
/// | `sweep_keys_per_second` | gauge | | ``recordSweep(keys:duration:)`` |
/// | `sweep_keys_done` | gauge | | ``setSweepProgress(done:total:)`` |
/// | `sweep_keys_total` | gauge | | ``setSweepProgress(done:total:)`` |
/// | `redis_errors_total` | counter | | ``recordRedisError()`` |
/// | `redis_cluster_unread_keys_total` | counter | | ``recordClusterUnread(_:)`` |
/// | `redis_cluster_redirects_total` | counter | `kind` (moved, ask) | ``setClusterRedirects(moved:ask:)`` |
/// | `redis_cluster_node_redirects_total` | counter | `node`, `kind` | ``setClusterNodeRedirects(_:)`` |
/// | `redis_master_reads_total` | counter | `node` | ``recordMasterRead(node:keys:)`` |
/// | `redis_replica_reads_total` | counter | `node` | ``recordReplicaRead(node:keys:staleness:)`` |
/// | `redis_replica_staleness_seconds` | gauge | `node` | ``recordReplicaRead(node:keys:staleness:)`` |
/// | `redis_replica_skips_total` | counter | `reason` (unavailable, behind) | ``recordReplicaSkip(_:keys:)`` |
/// | `redis_incidents_total` | counter | `reason`, `node` | ``recordIncident(reason:node:)`` |
/// | `reconnects_total` | counter | `target` | ``recordReconnect(_:)`` |
/// | `last_checkpoint_age_seconds` | gauge | | ``recordCheckpointWritten(at:)``, computed at ``render(now:)`` |
/// | `checkpoint_failures_total` | counter | | ``recordCheckpointFailure()`` |
/// | `redis_lead_seconds` | histogram | | ``recordRedisLead(seconds:)`` |
///
/// Series whose labels come from a closed set (`trigger`, `result`, `target`, `kind` of
/// `divergences_total`) are registered at zero up front, so `rate()` sees their first increment.
///
/// Thread safety: every method may be called from any thread (the binlog tail thread, the reconcile
/// task, the HTTP server's event loop) at any time. The collectors are atomic or locked inside
/// swift-prometheus; the little state of our own (the current binlog file, the last checkpoint time)
/// is behind a `Mutex`.
///
/// The registry is ours or the caller's, never the global `MetricsSystem`: only the executable
/// bootstraps that (and may do so with a `PrometheusMetricsFactory` over ``registry``, so that
/// swift-metrics users end up in the same exposition).
public final class ReconcilerMetrics: Sendable {
    /// Why a Redis key was read (`reads_total{trigger}`).
    public enum ReadTrigger: String, Sendable, CaseIterable {
        /// G seconds after the shadow value changed.
        case change
        /// A keyspace notification or tracking invalidation for the key.
        case notification
        /// A periodic full sweep (MGET pipeline).
        case sweep
        /// The confirmation read C seconds after a suspicious observation.
        case confirm
        /// A replica's read that could not count, read again on the master (`read_from = "replica"`).
        case recheck
    }

    /// Which connection was re-established (`reconnects_total{target}`).
    public enum ReconnectTarget: String, Sendable, CaseIterable {
        /// The MySQL/MariaDB replication stream.
        case source
        /// A Redis connection.
        case redis
    }

    /// How a compare-and-set repair ended (`repairs_total{result}`).
    public enum RepairResult: String, Sendable, CaseIterable {
        /// The key was set to the expected value.
        case repaired
        /// The key no longer held the observed value, so the CAS did nothing.
        case conflict
        /// The repair command failed (connection or script error).
        case failed
    }

    /// The registry the series live in; ``render(now:)`` emits all of it, including series that
    /// others registered there.
    public let registry: PrometheusCollectorRegistry

    // MARK: - Collectors

    private let binlogPosition: Gauge
    private let secondsBehindSource: Gauge
    private let applyLag: ValueHistogram
    private let eventsApplied: Counter
    private let rowsApplied: Counter
    private let transactionsApplied: Counter
    private let reads: [ReadTrigger: Counter]
    private let suspects: Gauge
    private let xaPrepared: Gauge
    private let xaOldestPrepared: Gauge
    private let divergencesTotal: [DivergenceKind: Counter]
    private let repairs: [RepairResult: Counter]
    private let sweepDuration: ValueHistogram
    private let sweepKeysPerSecond: Gauge
    private let sweepKeysDone: Gauge
    private let sweepKeysTotal: Gauge
    private let redisErrors: Counter
    private let clusterUnread: Counter
    private let replicaSkips: [ReplicaSkip: Counter]
    private let clusterMoved: Counter
    private let clusterAsk: Counter
    private let reconnects: [ReconnectTarget: Counter]
    private let lastCheckpointAge: Gauge
    private let checkpointFailures: Counter
    private let redisLead: ValueHistogram

    private struct State {
        /// The `binlog_file_info` series of the current file.
        var fileInfo: (file: String, gauge: Gauge)?
        /// When the last checkpoint was written (or when these metrics were created).
        var lastCheckpoint: ContinuousClock.Instant
        /// Redirections already counted (``setClusterRedirects(moved:ask:)``).
        var clusterMoved = 0
        var clusterAsk = 0
        /// Per node (``setClusterNodeRedirects(_:)``).
        var nodeRedirects: [String: (moved: Int, ask: Int)] = [:]
    }

    private let state: Mutex<State>

    // MARK: - Buckets

    /// Apply lag: commit timestamps have one-second resolution, so the sub-second buckets mostly
    /// catch the "applied within the commit's second" case.
    static let applyLagBuckets: [Double] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800]
    /// Full sweeps of up to millions of keys.
    static let sweepDurationBuckets: [Double] = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    /// Symmetric around 0 so that both tails are visible: the lead tolerance L is read off the
    /// positive side, the lag tolerance G off the negative side.
    static let redisLeadBuckets: [Double] = {
        let positive: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    // MARK: - Init

    /// Registers every series in `registry`.
    ///
    /// - Parameters:
    ///   - registry: Where the series live; a new one by default. Must not already hold series with
    ///     these names but other types, labels or help texts (swift-prometheus traps on that).
    ///   - now: The start time, used as the "last checkpoint" until one is recorded, so that the age
    ///     grows from startup when no checkpoint is ever written.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), now: ContinuousClock.Instant = .now) {
        self.registry = registry
        func d(_ name: String, _ unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "binlog_reconciler", metricName: name, unitName: unit, helpText: help)
        }
        let r = registry
        binlogPosition = r.makeGauge(descriptor: d("binlog_position", "bytes", "Byte offset in the current binlog file of the last applied transaction boundary."))
        secondsBehindSource = r.makeGauge(descriptor: d("seconds_behind_source", "", "How far the applied stream is behind the source, in seconds."))
        applyLag = r.makeValueHistogram(
            descriptor: d("apply_lag", "seconds", "Time from a transaction's commit timestamp on the source to its apply to the shadow map."),
            buckets: Self.applyLagBuckets)
        eventsApplied = r.makeCounter(descriptor: d("events_applied", "total", "Binlog events applied to the shadow maps."))
        rowsApplied = r.makeCounter(descriptor: d("rows_applied", "total", "Row changes applied to the shadow maps."))
        transactionsApplied = r.makeCounter(descriptor: d("transactions_applied", "total", "Committed transactions applied to the shadow maps."))
        let readsD = d("reads", "total", "Redis key reads, by what triggered them.")
        reads = Dictionary(uniqueKeysWithValues: ReadTrigger.allCases.map { ($0, r.makeCounter(descriptor: readsD, labels: [("trigger", $0.rawValue)])) })
        suspects = r.makeGauge(descriptor: d("suspects", "", "Keys whose last observation disagreed and await a decision."))
        xaPrepared = r.makeGauge(descriptor: d("xa_prepared", "", "XA transactions prepared in the binlog and not yet committed or rolled back (their changes are held)."))
        xaOldestPrepared = r.makeGauge(descriptor: d("xa_oldest_prepared_seconds", "", "Age of the oldest prepared XA transaction, from its prepare's binlog timestamp (0 when none)."))
        let divD = d("divergences", "total", "Divergences opened, by kind.")
        divergencesTotal = Dictionary(uniqueKeysWithValues: DivergenceKind.allForMetrics.map { ($0, r.makeCounter(descriptor: divD, labels: [("kind", $0.rawValue)])) })
        let repD = d("repairs", "total", "Compare-and-set repairs, by result.")
        repairs = Dictionary(uniqueKeysWithValues: RepairResult.allCases.map { ($0, r.makeCounter(descriptor: repD, labels: [("result", $0.rawValue)])) })
        sweepDuration = r.makeValueHistogram(descriptor: d("sweep_duration", "seconds", "Duration of full sweeps."), buckets: Self.sweepDurationBuckets)
        sweepKeysPerSecond = r.makeGauge(descriptor: d("sweep_keys_per_second", "", "Keys read per second in the last full sweep."))
        sweepKeysDone = r.makeGauge(descriptor: d("sweep_keys_done", "", "Keys read so far by the sweep in progress (equal to sweep_keys_total between sweeps)."))
        sweepKeysTotal = r.makeGauge(descriptor: d("sweep_keys_total", "", "Keys the sweep in progress reads (the watched keys when it started; a narrowed sweep counts only those of its slots, as each watch is reached)."))
        redisErrors = r.makeCounter(descriptor: d("redis_errors", "total", "Redis command or connection errors."))
        clusterUnread = r.makeCounter(descriptor: d("redis_cluster_unread_keys", "total", "Keys a Redis Cluster read left unread after its retries (read again later, never reported)."))
        let skipD = d("redis_replica_skips", "total", "Reads meant for a replica (read_from = replica) sent to the master instead, by why.")
        replicaSkips = Dictionary(uniqueKeysWithValues: ReplicaSkip.allCases.map { ($0, r.makeCounter(descriptor: skipD, labels: [("reason", $0.rawValue)])) })
        let redirD = d("redis_cluster_redirects", "total", "Redis Cluster redirections followed, by kind.")
        clusterMoved = r.makeCounter(descriptor: redirD, labels: [("kind", "moved")])
        clusterAsk = r.makeCounter(descriptor: redirD, labels: [("kind", "ask")])
        let recD = d("reconnects", "total", "Reconnections, by target.")
        reconnects = Dictionary(uniqueKeysWithValues: ReconnectTarget.allCases.map { ($0, r.makeCounter(descriptor: recD, labels: [("target", $0.rawValue)])) })
        lastCheckpointAge = r.makeGauge(descriptor: d("last_checkpoint_age", "seconds", "Seconds since the last checkpoint was written (since startup if none was)."))
        checkpointFailures = r.makeCounter(descriptor: d("checkpoint_failures", "total", "Checkpoint writes that failed."))
        redisLead = r.makeValueHistogram(
            descriptor: d("redis_lead", "seconds", "Observed Redis-vs-MySQL timing of a value, in seconds: positive when Redis showed it before the binlog did (lead), negative when after (lag)."),
            buckets: Self.redisLeadBuckets)
        state = Mutex(State(fileInfo: nil, lastCheckpoint: now))
    }

    // MARK: - Binlog stream

    /// The position of the last applied transaction boundary: moves `binlog_file_info{file}` to the
    /// new file when it changed, and sets `binlog_position_bytes`.
    public func setBinlogPosition(_ position: BinlogCoordinates) {
        state.withLock { s in
            if s.fileInfo?.file != position.file {
                let gauge = registry.makeGauge(descriptor: Self.fileInfoDescriptor, labels: [("file", position.file)])
                gauge.set(to: 1)
                if let old = s.fileInfo { registry.unregisterGauge(old.gauge) }
                s.fileInfo = (position.file, gauge)
            }
            // Inside the lock so that the file and the offset never disagree for long.
            binlogPosition.set(to: Double(position.position))
        }
    }

    /// How far the applied stream is behind the source (from heartbeats or event timestamps).
    public func setSecondsBehindSource(_ seconds: Double) {
        secondsBehindSource.set(to: seconds)
    }

    /// One committed transaction was applied to the shadow maps.
    ///
    /// - Parameters:
    ///   - events: Binlog events the transaction consisted of (GTID, table maps, rows, commit).
    ///   - rows: Row changes it carried.
    ///   - applyLag: Seconds from its commit timestamp on the source to now, or nil when unknown
    ///     (bootstrap). Negative values (clock skew between the hosts) are recorded as 0; NaN and
    ///     infinities are dropped.
    public func recordTransactionApplied(events: Int, rows: Int, applyLag: Double?) {
        transactionsApplied.increment()
        if events > 0 { eventsApplied.increment(by: Int64(events)) }
        if rows > 0 { rowsApplied.increment(by: Int64(rows)) }
        if let applyLag, applyLag.isFinite { self.applyLag.record(max(0, applyLag)) }
    }

    // MARK: - Reconciler

    /// Keys currently tracked (with recent history or an open divergence) for one watch.
    public func setKeysTracked(_ count: Int, watch: String) {
        registry.makeGauge(descriptor: Self.keysTrackedDescriptor, labels: [("watch", watch)]).set(to: Double(count))
    }

    /// `count` Redis key reads were made for `trigger` (a sweep batch counts each key).
    public func recordReads(_ count: Int = 1, trigger: ReadTrigger) {
        guard count > 0 else { return }
        reads[trigger]?.increment(by: Int64(count))
    }

    /// Keys a Redis Cluster read gave up on this time (a migration or failover that outlasted
    /// the retries).
    public func recordClusterUnread(_ count: Int) {
        guard count > 0 else { return }
        clusterUnread.increment(by: Int64(count))
    }

    /// Why a read meant for a replica went to the master (`redis_replica_skips_total{reason}`).
    public enum ReplicaSkip: String, Sendable, CaseIterable {
        /// No replica to read, or it did not answer (in time).
        case unavailable
        /// The replica was further behind its master than the tolerance allows.
        case behind
    }

    private static var replicaReadsDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "redis_replica_reads", unitName: "total",
            helpText: "Keys read on a replica (read_from = replica), by node.")
    }
    private static var replicaStalenessDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "redis_replica_staleness", unitName: "seconds",
            helpText: "How far behind its master a replica's data could be at its last read (from replication offsets), by node.")
    }

    private static var masterReadsDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "redis_master_reads", unitName: "total",
            helpText: "Keys read on a Redis Cluster master or the Sentinel primary, by node.")
    }
    private static var nodeRedirectsDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "redis_cluster_node_redirects", unitName: "total",
            helpText: "Redis Cluster redirections followed, by the node they sent the command to and kind.")
    }
    private static var incidentsDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "redis_incidents", unitName: "total",
            helpText: "Redis incidents summarized (restart, flush, failover), by reason and node.")
    }

    /// `keys` were read on the master (or Sentinel primary) `node`.
    public func recordMasterRead(node: String, keys: Int) {
        guard keys > 0 else { return }
        registry.makeCounter(descriptor: Self.masterReadsDescriptor, labels: [("node", node)]).increment(by: Int64(keys))
    }

    /// The cluster client's redirection counts per target node so far (totals, set as they grow).
    public func setClusterNodeRedirects(_ byNode: [String: (moved: Int, ask: Int)]) {
        let deltas = state.withLock { s -> [(String, Int, Int)] in
            var out: [(String, Int, Int)] = []
            for (node, n) in byNode {
                let before = s.nodeRedirects[node] ?? (0, 0)
                if n.moved != before.moved || n.ask != before.ask { out.append((node, n.moved - before.moved, n.ask - before.ask)) }
                s.nodeRedirects[node] = n
            }
            return out
        }
        for (node, moved, ask) in deltas {
            if moved > 0 { registry.makeCounter(descriptor: Self.nodeRedirectsDescriptor, labels: [("node", node), ("kind", "moved")]).increment(by: Int64(moved)) }
            if ask > 0 { registry.makeCounter(descriptor: Self.nodeRedirectsDescriptor, labels: [("node", node), ("kind", "ask")]).increment(by: Int64(ask)) }
        }
    }

    /// A Redis incident's summary was written (`reason`: redis_restart, redis_flush, redis_failover).
    public func recordIncident(reason: String, node: String) {
        registry.makeCounter(descriptor: Self.incidentsDescriptor, labels: [("reason", reason), ("node", node)]).increment()
    }

    /// `keys` were read on the replica `node`, whose data was at most `staleness` seconds behind its master.
    public func recordReplicaRead(node: String, keys: Int, staleness: Double) {
        registry.makeCounter(descriptor: Self.replicaReadsDescriptor, labels: [("node", node)]).increment(by: Int64(keys))
        registry.makeGauge(descriptor: Self.replicaStalenessDescriptor, labels: [("node", node)]).set(to: staleness)
    }

    /// `keys` meant for a replica were read on the master.
    public func recordReplicaSkip(_ reason: ReplicaSkip, keys: Int) {
        guard keys > 0 else { return }
        replicaSkips[reason]?.increment(by: Int64(keys))
    }

    /// The cluster client's redirection counts so far (totals, set as they grow).
    public func setClusterRedirects(moved: Int, ask: Int) {
        let (m, a) = state.withLock { s -> (Int, Int) in
            defer { s.clusterMoved = moved; s.clusterAsk = ask }
            return (moved - s.clusterMoved, ask - s.clusterAsk)
        }
        if m > 0 { clusterMoved.increment(by: Int64(m)) }
        if a > 0 { clusterAsk.increment(by: Int64(a)) }
    }

    /// Keys whose last observation disagreed and that wait for their confirmation read.
    public func setSuspects(_ count: Int) {
        suspects.set(to: Double(count))
    }

    /// XA transactions prepared and not completed, and the age of the oldest.
    public func setXAPrepared(count: Int, oldestSeconds: Double) {
        xaPrepared.set(to: Double(count))
        xaOldestPrepared.set(to: oldestSeconds)
    }

    /// Divergences currently open for one watch and kind.
    public func setOpenDivergences(_ count: Int, watch: String, kind: DivergenceKind) {
        registry.makeGauge(descriptor: Self.divergencesOpenDescriptor, labels: [("watch", watch), ("kind", kind.rawValue)])
            .set(to: Double(count))
    }

    /// A divergence was opened (reported), for `divergences_total{kind}`.
    public func recordDivergenceOpened(kind: DivergenceKind) {
        divergencesTotal[kind]?.increment()
    }

    /// A repair attempt ended with `result`.
    public func recordRepair(_ result: RepairResult) {
        repairs[result]?.increment()
    }

    /// A full sweep read `keys` keys in `duration`: observes `sweep_duration_seconds` and sets
    /// `sweep_keys_per_second` (left alone for a zero duration).
    /// The sweep in progress: keys read so far of how many.
    public func setSweepProgress(done: Int, total: Int) {
        sweepKeysDone.set(to: Double(done))
        sweepKeysTotal.set(to: Double(total))
    }

    public func recordSweep(keys: Int, duration: Duration) {
        let seconds = Self.seconds(duration)
        sweepDuration.record(seconds)
        if seconds > 0 { sweepKeysPerSecond.set(to: Double(keys) / seconds) }
    }

    /// The signed timing of a value as seen in Redis against the shadow map, in seconds: positive
    /// when Redis showed it before the binlog delivered it (Redis leads), negative when after. The
    /// distribution is what the per-watch tolerances L and G are chosen from. NaN and infinities
    /// are dropped.
    public func recordRedisLead(seconds: Double) {
        guard seconds.isFinite else { return }
        redisLead.record(seconds)
    }

    // MARK: - Connections and checkpoints

    /// A Redis command or connection failed.
    public func recordRedisError() {
        redisErrors.increment()
    }

    /// A connection to `target` was re-established.
    public func recordReconnect(_ target: ReconnectTarget) {
        reconnects[target]?.increment()
    }

    /// A checkpoint was written at `at`; `last_checkpoint_age_seconds` counts from there.
    public func recordCheckpointWritten(at: ContinuousClock.Instant = .now) {
        state.withLock { $0.lastCheckpoint = at }
    }

    /// A checkpoint write failed.
    public func recordCheckpointFailure() {
        checkpointFailures.increment()
    }

    // MARK: - Exposition

    /// The Prometheus text exposition (format 0.0.4) of the whole registry, after updating the
    /// time-derived gauge `last_checkpoint_age_seconds` to `now`.
    public func render(now: ContinuousClock.Instant = .now) -> String {
        let last = state.withLock { $0.lastCheckpoint }
        lastCheckpointAge.set(to: max(0, Self.seconds(now - last)))
        return registry.emitToString()
    }

    // MARK: - Helpers

    private static var fileInfoDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "binlog_file", unitName: "info",
            helpText: "The binlog file being applied, as the file label; the value is always 1.")
    }

    private static var keysTrackedDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "keys_tracked", unitName: "",
            helpText: "Keys with recent history or an open divergence, per watch.")
    }

    private static var divergencesOpenDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "binlog_reconciler", metricName: "divergences_open", unitName: "",
            helpText: "Divergences currently open, per watch and kind.")
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

extension DivergenceKind {
    /// Every kind, for registering `divergences_total{kind}` at zero. The switch makes a new case a
    /// compile error here rather than a silently missing series.
    static var allForMetrics: [DivergenceKind] {
        let all: [DivergenceKind] = [.missing, .orphan, .redisHigher, .redisLower, .notANumber, .wrongType, .mismatch]
        for k in all {
            switch k {
            case .missing, .orphan, .redisHigher, .redisLower, .notANumber, .wrongType, .mismatch: break
            }
        }
        return all
    }
}
