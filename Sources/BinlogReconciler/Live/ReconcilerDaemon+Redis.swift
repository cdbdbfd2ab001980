import Foundation
import Logging

/// A Redis flush or restart being answered: merged from every signal that reports it (the
/// watchdog's connection loss, changed `run_id` or key-count drop, a flush announced by
/// tracking), so that one `summary` record is written, after the sweep that follows it.
struct RedisIncident {
    enum Reason: Int, Comparable {
        /// Connection lost, not known yet whether the server restarted.
        case unreachable = 0
        case flush = 1
        case restart = 2
        var text: String {
            switch self {
            case .unreachable: "redis_unreachable"
            case .flush: "redis_flush"
            case .restart: "redis_restart"
            }
        }
        static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }
    }
    var reason: Reason
    /// Monotonic time of the first signal.
    var noticedAt: Double
    var noticedWall: Double
    var runID: String?
    var previousRunID: String?
    var keysBefore: Int?
    var keysAfter: Int?
    var summaryWritten = false
}

extension ReconcilerDaemon {
    /// Signals closer than this to an incident's first one belong to it.
    static let incidentMergeSeconds = 1.0

    /// Records a flush/restart signal; requests the immediate sweep. Under `lock`.
    func noteIncidentLocked(_ reason: RedisIncident.Reason, update: (inout RedisIncident) -> Void = { _ in }) -> Bool {
        let now = monotonicSeconds()
        sweepRequested = true
        if var inc = incident, !inc.summaryWritten || now - inc.noticedAt < Self.incidentMergeSeconds {
            inc.reason = max(inc.reason, reason)
            update(&inc)
            incident = inc
            return false
        }
        var inc = RedisIncident(reason: reason, noticedAt: now, noticedWall: Date().timeIntervalSince1970)
        update(&inc)
        incident = inc
        return true
    }

    /// What the watchdog saw.
    func handleWatchdog(_ event: RedisWatchdogEvent) {
        switch event {
        case .connected(let runID, let keys):
            lock.withLock { redisRunID = runID }
            health.setRedisReachable(true)
            logger.info("Redis watchdog connected", metadata: ["run_id": "\(runID)", "keys": "\(keys)"])
        case .connectionLost(let error):
            health.setRedisReachable(false)
            metrics.recordRedisError()
            _ = lock.withLock { noteIncidentLocked(.unreachable) }
            logger.warning("Redis connection lost; every key is swept as soon as it answers", metadata: ["error": "\(error)"])
        case .reconnected(let runID, let previous, let keys, let keysBefore):
            health.setRedisReachable(true)
            metrics.recordReconnect(.redis)
            let restarted = runID != previous
            let dropped = keysBefore >= 2 && keys * 2 < keysBefore
            lock.withLock {
                redisRunID = runID
                if restarted || dropped {
                    _ = noteIncidentLocked(restarted ? .restart : .flush) {
                        $0.runID = runID
                        $0.previousRunID = previous
                        if $0.keysBefore == nil { $0.keysBefore = keysBefore }
                        $0.keysAfter = keys
                    }
                } else {
                    // The same server with its keys: a network blip. Changes made meanwhile were
                    // not notified, so sweep, but there is nothing to summarize.
                    if let inc = incident, !inc.summaryWritten, inc.reason == .unreachable { incident = nil }
                    sweepRequested = true
                }
            }
            if restarted {
                logger.warning("Redis restarted (new run_id); sweeping every key", metadata: ["run_id": "\(runID)", "previous_run_id": "\(previous)", "keys": "\(keysBefore) -> \(keys)"])
            } else {
                logger.notice("Redis connection back (same server); sweeping every key", metadata: ["keys": "\(keysBefore) -> \(keys)"])
            }
        case .keysDropped(let from, let to):
            let new = lock.withLock {
                noteIncidentLocked(.flush) {
                    if $0.keysBefore == nil { $0.keysBefore = from }
                    $0.keysAfter = to
                    if $0.runID == nil { $0.runID = redisRunID }
                }
            }
            if new { logger.warning("Redis key count dropped by more than half (flush?); sweeping every key", metadata: ["keys": "\(from) -> \(to)"]) }
        }
    }

    /// After a successful sweep: the incident's summary, once its cause is known.
    func writeIncidentSummary(sweepStartedAt: Double, keysChecked: Int, missing: Int) {
        let record: ReportRecord? = lock.withLock {
            guard var inc = incident, !inc.summaryWritten, inc.reason != .unreachable, inc.noticedAt <= sweepStartedAt else { return nil }
            inc.summaryWritten = true
            incident = inc
            let wall = Date().timeIntervalSince1970
            var r = ReportRecord(
                event: .summary, id: "summary|\(inc.reason.text)|\(VerdictEngine.rfc3339(inc.noticedWall))",
                watch: configuration.watches.map(\.name).joined(separator: ","), key: "", redisKey: "", expected: nil, redis: nil,
                kind: .missing, firstSeen: inc.noticedWall, detectedAt: wall, binlog: state.position, binlogGTID: state.gtid.description,
                reason: inc.reason.text, keys: missing)
            r.summary = SummaryDetails(
                keysChecked: keysChecked, noticedAt: inc.noticedWall, runID: inc.runID ?? redisRunID, previousRunID: inc.previousRunID,
                redisKeysBefore: inc.keysBefore, redisKeysAfter: inc.keysAfter)
            return r
        }
        guard let record else { return }
        logger.warning("Redis \(record.reason == "redis_restart" ? "restart" : "flush"): summary written", metadata: [
            "keys_missing": "\(missing)", "keys_checked": "\(keysChecked)",
        ])
        sink.write(record)
    }

    // MARK: - Keyspace notifications

    /// With `notifications = "keyspace"`: checks `notify-keyspace-events` (at start, after every
    /// Redis reconnect, and every few seconds while notifications are not running), turns it on
    /// when allowed, says loudly when it is off, and (re)starts the listener once it is on.
    func checkKeyspaceEvents(_ conn: RedisConnection, reconnected: Bool) {
        guard configuration.redis.notifications == .keyspace else { return }
        let running = lock.withLock { listener != nil }
        if running && !reconnected { return }
        let hashEvents = configuration.watches.contains { if case .hash = $0.target { true } else { false } }
        let required = KeyspaceEventFlags.required(hashEvents: hashEvents)
        let current: String
        do {
            current = try conn.configGet("notify-keyspace-events")["notify-keyspace-events"] ?? ""
        } catch {
            logger.warning("cannot read notify-keyspace-events (CONFIG GET); assuming keyspace notifications work", metadata: ["error": "\(error)"])
            if !running { startListenerLogged() }
            return
        }
        let missing = KeyspaceEventFlags.missing(current: current, required: required)
        if missing.isEmpty {
            if !running {
                logger.notice("keyspace notifications are on", metadata: ["notify-keyspace-events": "\(current)"])
                startListenerLogged()
            }
            return
        }
        if configuration.redis.enableKeyspaceEvents {
            do {
                try conn.configSet("notify-keyspace-events", current + missing)
                logger.notice("keyspace notifications were off; turned on (enable_keyspace_events)", metadata: ["notify-keyspace-events": "\(current) -> \(current + missing)"])
            } catch {
                logger.error("cannot turn keyspace notifications on (CONFIG SET notify-keyspace-events)", metadata: ["error": "\(error)"])
                return
            }
            if !running { startListenerLogged() }
            return
        }
        let warnedAlready = lock.withLock { () -> Bool in
            defer { keyspaceOffWarned = true }
            return keyspaceOffWarned && !reconnected
        }
        if !warnedAlready {
            logger.warning(
                "keyspace notifications are OFF: Redis-side changes are seen only in sweeps (every \(configuration.reconcile.sweepIntervalSeconds) s) and after binlog changes",
                metadata: [
                    "notify-keyspace-events": "'\(current)'", "needs": "\(required)",
                    "fix": "CONFIG SET notify-keyspace-events \(current + missing), or enable_keyspace_events = true / --enable-keyspace-events, or notifications = \"tracking\"",
                ])
        }
    }

    private func startListenerLogged() {
        do {
            let l = try startNotifications()
            lock.withLock { listener = l }
        } catch {
            logger.warning("cannot start Redis notifications; sweeps only until Redis reconnects", metadata: ["error": "\(error)"])
        }
    }
}

extension VerdictEngine.ReadTrigger {
    var metricsTrigger: ReconcilerMetrics.ReadTrigger {
        switch self {
        case .change: .change
        case .notification: .notification
        case .confirm: .confirm
        }
    }
}
