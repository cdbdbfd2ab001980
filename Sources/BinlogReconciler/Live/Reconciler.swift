import BinlogParser
import Foundation
import Logging

/// The reconciler: reads Redis (on changes, notifications, confirmations and in sweeps), feeds
/// the verdict engine, writes its reports and repairs. Runs the reconcile loop on the caller's
/// thread of ``ReconcilerDaemon/run()``; the notification listener and the watchdog call into it
/// from theirs. Everything it shares with the tail is in ``LiveState``, under ``LiveShared``.
final class Reconciler: Sendable {
    let configuration: ReconcilerConfiguration
    let options: ReconcilerDaemon.Options
    let shared: LiveShared
    let sink: ReportSink
    let logger: Logger
    let metrics: ReconcilerMetrics
    let health: HealthState
    /// Per watch, whether each key column is an integer column (information_schema at start; nil
    /// when unknown): how Redis key names are read back into row keys.
    let keyIntegerColumns: [[Bool]?]
    let redisConfiguration: RedisConfiguration

    /// How long one turn of the loop reads a sweep before it looks at change reads, verdicts and
    /// repairs again.
    static let sweepSlice = 0.05

    /// Reads of the reconcile loop: one quick retry, then the loop moves on (the watchdog notices
    /// an outage and a sweep follows when Redis answers).
    static let readRetry = RedisRetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(50), maxDelay: .milliseconds(100))

    init(
        configuration: ReconcilerConfiguration, options: ReconcilerDaemon.Options, shared: LiveShared, sink: ReportSink, logger: Logger,
        metrics: ReconcilerMetrics, health: HealthState, keyIntegerColumns: [[Bool]?], redisConfiguration: RedisConfiguration
    ) {
        self.configuration = configuration
        self.options = options
        self.shared = shared
        self.sink = sink
        self.logger = logger
        self.metrics = metrics
        self.health = health
        self.keyIntegerColumns = keyIntegerColumns
        self.redisConfiguration = redisConfiguration
    }

    /// Runs until shutdown (or, with `checkOnce`, until every key is decided).
    func run(_ redis: RedisRoute) throws -> ReconcilerDaemon.Outcome {
        let started = monotonicSeconds()
        let checkOnce = options.checkOnce
        var nextSweep = 0.0
        var quietSince: Double?
        var behindSince: Double?
        var redisRetryAt = 0.0
        var redisDown = false
        var clusterRefreshesLogged = 0
        var clusterWatch = ClusterWatch()
        var nextMetrics = 0.0
        var repairBudget = RepairBudget()
        /// The sweep in progress, read a slice per turn; dropped when Redis fails (a new one is
        /// requested and starts once Redis answers).
        var sweep: SweepCursor?
        var sweepTurn = SweepTurn.complete
        while true {
            let now = monotonicSeconds()
            let (due, caught, stop, fatal, finished) = shared.withLock {
                ($0.engine.takeDueReads(now: now), $0.isCaughtUp(now: now, checkOnce: checkOnce), $0.stopping, $0.tailError, $0.tailFinished)
            }
            if let fatal { throw fatal }
            if stop { break }
            if caught && !shared.withLock({ $0.wasCaughtUp }) {
                // Catching up after a bootstrap, a resume or a reconnect ends with a full sweep; so
                // does a lag long enough to matter. Blips under a steady write load (the source's
                // position polled a moment before our apply) need none: their reads were deferred.
                let longLag = behindSince.map { now - $0 >= 1.0 } ?? false
                let (sweepNow, position) = shared.withLock { s -> (Bool, BinlogCoordinates) in
                    s.wasCaughtUp = true
                    let sweep = s.catchUpSweepNeeded || longLag
                    s.catchUpSweepNeeded = false
                    if sweep { s.sweepRequested = true }
                    return (sweep, s.shadow.position)
                }
                if sweepNow { logger.info("caught up with the source", metadata: ["position": "\(position)"]) }
                behindSince = nil
            }
            if !caught && !finished && shared.withLock({ s -> Bool in defer { s.wasCaughtUp = false }; return s.wasCaughtUp }) {
                behindSince = now
            }
            var usedRedis = false
            // With read_from = "replica": every master's replication offset, every 100 ms.
            if now >= redisRetryAt { sampleReplicationClocks(redis) }
            do {
                if !due.isEmpty {
                    if caught && now >= redisRetryAt {
                        usedRedis = true
                        for trigger in [VerdictEngine.ReadTrigger.change, .notification, .confirm, .recheck] {
                            let reads = due.filter { $0.trigger == trigger }
                            if !reads.isEmpty { try readDue(reads, redis: redis, trigger: trigger.metricsTrigger) }
                        }
                    } else if !caught {
                        // Reads are taken only while caught up: the ones due while behind wait for it.
                        shared.withLock { $0.engine.reschedule(due, at: now + 0.02) }
                    } else {
                        // Redis is being retried: the sweep that follows covers these keys.
                        shared.withLock { $0.sweepRequested = true }
                    }
                }
                // A sweep of every key when one is requested or due; else of the slots of the
                // Redis Cluster nodes that had an incident.
                if caught && now >= redisRetryAt && sweep == nil, let scope = shared.withLock({ $0.takeSweepRequest(due: now >= nextSweep) }) {
                    sweep = beginSweep(now: monotonicSeconds(), scope: scope)
                }
                if caught && now >= redisRetryAt, var cursor = sweep {
                    usedRedis = true
                    sweep = nil
                    sweepTurn = try continueSweep(&cursor, redis: redis, deadline: monotonicSeconds() + Self.sweepSlice)
                    if sweepTurn == .complete {
                        finishSweep(cursor)
                        writeIncidentSummary(
                            sweepStartedAt: cursor.startedAt, sweptSlots: cursor.slots, keysChecked: cursor.done, missing: cursor.tally.missing)
                        // `check` sweeps once; the daemon sweeps every interval (a narrowed sweep
                        // does not put the next full one off).
                        if cursor.slots == nil {
                            nextSweep = checkOnce ? .infinity : monotonicSeconds() + configuration.reconcile.sweepIntervalSeconds
                        }
                    } else {
                        sweep = cursor
                    }
                }
                if redisDown && usedRedis {
                    redisDown = false
                    health.setRedisReachable(true)
                    logger.notice("Redis answers the reconciler again")
                }
            } catch let e as RedisError where e.isRetryable && !checkOnce {
                // Redis is down or restarting: keep applying the binlog, retry shortly. Reads
                // missed meanwhile are covered by the sweep that follows.
                metrics.recordRedisError()
                health.setRedisReachable(false)
                shared.withLock { $0.sweepRequested = true }
                redisRetryAt = monotonicSeconds() + 0.2
                if !redisDown {
                    redisDown = true
                    logger.warning("Redis read failed; retrying every 200 ms (the binlog is still applied)", metadata: ["error": "\(e)"])
                }
            }
            let records = shared.withLock { s in
                // The maps are read while the engine changes: a reference to their storage, not a copy.
                let maps = s.shadow.maps
                return s.engine.decide(now: monotonicSeconds(), current: { w, k in maps[w][k] }, position: s.shadow.position, gtid: s.shadow.gtid.description)
            }
            for r in records {
                if r.event == .divergence { metrics.recordDivergenceOpened(kind: r.kind) }
                sink.write(r)
            }
            if case .cluster(let c) = redis, !options.checkOnce { pollCluster(c, &clusterWatch, now: now) }
            if configuration.reconcile.repair && caught && monotonicSeconds() >= redisRetryAt {
                repairPass(redis, budget: &repairBudget)
            }
            if case .sentinel(let s) = redis { s.pollIfDue() }
            if now >= nextMetrics {
                nextMetrics = now + 0.5
                updateMetrics(now: now, caught: caught)
                if case .cluster(let c) = redis {
                    metrics.setClusterRedirects(moved: c.movedRedirects, ask: c.askRedirects)
                    metrics.setClusterNodeRedirects(c.redirectsByNode)
                    if c.refreshes > clusterRefreshesLogged {
                        clusterRefreshesLogged = c.refreshes
                        logger.info("Redis Cluster slot map read again", metadata: [
                            "refreshes": "\(c.refreshes)", "moved": "\(c.movedRedirects)", "ask": "\(c.askRedirects)",
                            "masters": "\(c.masters.map { "\($0.endpoint)" }.joined(separator: " "))",
                        ])
                    }
                }
            }
            if checkOnce {
                let repairing = configuration.reconcile.repair
                let swept = sweep == nil && nextSweep == .infinity
                let (idle, settled) = swept
                    ? shared.withLock { s in
                        let idle = s.engine.pendingReads == 0 && finished && s.wasCaughtUp && (!repairing || s.engine.repairableCount == 0)
                        return (idle, idle && s.engine.trackedKeys == 0)
                    }
                    : (false, false)
                // Every key decided and none with state (no read waiting for its decision or
                // confirmation): nothing more can be reported.
                if settled { break }
                let maxWindow = configuration.watches.map { $0.leadSeconds + $0.lagSeconds + $0.confirmSeconds }.max() ?? 4
                if idle {
                    if quietSince == nil { quietSince = now }
                    if let q = quietSince, now - q > maxWindow + 0.5 { break }
                } else {
                    quietSince = nil
                }
                if now - started > options.checkTimeoutSeconds { throw CheckTimedOut(seconds: Int(options.checkTimeoutSeconds)) }
            }
            // A sweep in progress goes on at once, unless its pace says wait.
            if sweep != nil && sweepTurn == .deadline && caught && now >= redisRetryAt { continue }
            let next = shared.withLock { $0.engine.nextReadAt } ?? (now + 0.01)
            let wait = max(0.001, min(0.01, next - monotonicSeconds()))
            Thread.sleep(forTimeInterval: wait)
        }
        return shared.withLock { s in
            ReconcilerDaemon.Outcome(divergencesOpen: s.engine.openDivergences.count, divergencesReported: sink.count(.divergence), keysChecked: s.keysChecked)
        }
    }

    /// The gauges computed from state (every half second) and the lead/lag samples.
    func updateMetrics(now: Double, caught: Bool) {
        let watches = configuration.watches
        let (tracked, suspects, open, samples, lastTS, xaCount, xaOldest) = shared.withLock { s in
            (watches.indices.map { s.engine.trackedKeys(watch: $0) }, s.engine.suspects, s.engine.openDivergences, s.engine.drainLeadSamples(),
             s.lastCommitTimestamp, s.shadow.heldXA.count, s.shadow.heldXA.oldestTimestamp)
        }
        metrics.setXAPrepared(count: xaCount, oldestSeconds: xaOldest.map { max(0, Date().timeIntervalSince1970 - Double($0)) } ?? 0)
        for (w, watch) in watches.enumerated() {
            metrics.setKeysTracked(tracked[w], watch: watch.name)
            for kind in DivergenceKind.allForMetrics {
                metrics.setOpenDivergences(open.filter { $0.watch == watch.name && $0.kind == kind }.count, watch: watch.name, kind: kind)
            }
        }
        metrics.setSuspects(suspects)
        for s in samples { metrics.recordRedisLead(seconds: s) }
        let behind = caught || lastTS == 0 ? 0 : max(0, Date().timeIntervalSince1970 - Double(lastTS))
        metrics.setSecondsBehindSource(behind)
    }
}

extension VerdictEngine.ReadTrigger {
    var metricsTrigger: ReconcilerMetrics.ReadTrigger {
        switch self {
        case .change: .change
        case .notification: .notification
        case .confirm: .confirm
        case .recheck: .recheck
        }
    }
}
