import Foundation
import Logging

extension Reconciler {
    /// What the watchdog saw.
    func handleWatchdog(_ event: RedisWatchdogEvent) {
        switch event {
        case .connected(let runID, let keys):
            shared.withLock { $0.redisRunID = runID }
            health.setRedisReachable(true)
            logger.info("Redis watchdog connected", metadata: ["run_id": "\(runID)", "keys": "\(keys)"])
        case .connectionLost(let error):
            health.setRedisReachable(false)
            metrics.recordRedisError()
            _ = shared.withLock { $0.noteIncident(.unreachable) }
            logger.warning("Redis connection lost; every key is swept as soon as it answers", metadata: ["error": "\(error)"])
        case .reconnected(let runID, let previous, let keys, let keysBefore):
            health.setRedisReachable(true)
            metrics.recordReconnect(.redis)
            let restarted = runID != previous
            let dropped = keysBefore >= 2 && keys * 2 < keysBefore
            shared.withLock { s in
                s.redisRunID = runID
                if restarted || dropped {
                    _ = s.noteIncident(restarted ? .restart : .flush) {
                        $0.runID = runID
                        $0.previousRunID = previous
                        if $0.keysBefore == nil { $0.keysBefore = keysBefore }
                        $0.keysAfter = keys
                    }
                } else {
                    // The same server with its keys: a network blip. Changes made meanwhile were
                    // not notified, so sweep, but there is nothing to summarize.
                    if let inc = s.incident, !inc.summaryWritten, inc.reason == .unreachable { s.incident = nil }
                    s.sweepRequested = true
                }
            }
            if restarted {
                logger.warning("Redis restarted (new run_id); sweeping every key", metadata: ["run_id": "\(runID)", "previous_run_id": "\(previous)", "keys": "\(keysBefore) -> \(keys)"])
            } else {
                logger.notice("Redis connection back (same server); sweeping every key", metadata: ["keys": "\(keysBefore) -> \(keys)"])
            }
        case .keysDropped(let from, let to):
            let new = shared.withLock { s in
                let runID = s.redisRunID
                return s.noteIncident(.flush) {
                    if $0.keysBefore == nil { $0.keysBefore = from }
                    $0.keysAfter = to
                    if $0.runID == nil { $0.runID = runID }
                }
            }
            if new { logger.warning("Redis key count dropped by more than half (flush?); sweeping every key", metadata: ["keys": "\(from) -> \(to)"]) }
        }
    }

    /// After a successful sweep: the incident's summary, once its cause is known, when the sweep
    /// began after it and read its keys (every key, or a narrowed sweep of all its slots).
    func writeIncidentSummary(sweepStartedAt: Double, sweptSlots: RedisClusterSlotSet? = nil, keysChecked: Int, missing: Int) {
        let watchNames = configuration.watches.map(\.name).joined(separator: ",")
        let record: ReportRecord? = shared.withLock { s in
            guard var inc = s.incident, !inc.summaryWritten, inc.reason != .unreachable, inc.noticedAt <= sweepStartedAt else { return nil }
            if let swept = sweptSlots {
                guard let needed = inc.slots, swept.isSuperset(of: needed) else { return nil }
            }
            inc.summaryWritten = true
            s.incident = inc
            let wall = Date().timeIntervalSince1970
            var r = ReportRecord(
                event: .summary, id: "summary|\(inc.reason.text)|\(VerdictEngine.rfc3339(inc.noticedWall))",
                watch: watchNames, key: "", redisKey: "", expected: nil, redis: nil,
                kind: .missing, firstSeen: inc.noticedWall, detectedAt: wall, binlog: s.shadow.position, binlogGTID: s.shadow.gtid.description,
                reason: inc.reason.text, keys: missing)
            r.summary = SummaryDetails(
                keysChecked: keysChecked, noticedAt: inc.noticedWall, runID: inc.runID ?? s.redisRunID, previousRunID: inc.previousRunID,
                redisKeysBefore: inc.keysBefore, redisKeysAfter: inc.keysAfter,
                node: inc.node, nodeID: inc.nodeID,
                slots: inc.slots.map { Self.slotText($0.ranges) })
            return r
        }
        guard let record else { return }
        let what = ["redis_restart": "restart", "redis_failover": "failover"][record.reason ?? ""] ?? "flush"
        logger.warning("Redis \(what): summary written", metadata: [
            "keys_missing": "\(missing)", "keys_checked": "\(keysChecked)", "node": "\(record.summary?.node ?? "-")",
        ])
        metrics.recordIncident(reason: record.reason ?? "redis_flush", node: record.summary?.node ?? "\(redisConfiguration.endpoint)")
        sink.write(record)
    }

    // MARK: - Keyspace notifications

    /// With `notifications = "keyspace"`: checks `notify-keyspace-events` (at start, after every
    /// Redis reconnect, and every few seconds while notifications are not running), turns it on
    /// when allowed, says loudly when it is off, and (re)starts the listener once it is on.
    func checkKeyspaceEvents(_ conn: RedisConnection, reconnected: Bool) {
        guard configuration.redis.notifications == .keyspace else { return }
        let running = shared.withLock { $0.listener != nil }
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
        let warnedAlready = shared.withLock { s -> Bool in
            defer { s.keyspaceOffWarned = true }
            return s.keyspaceOffWarned && !reconnected
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
            shared.withLock { $0.listener = l }
        } catch {
            logger.warning("cannot start Redis notifications; sweeps only until Redis reconnects", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Notifications

    func startNotifications(on target: RedisConfiguration? = nil) throws -> RedisNotificationListener? {
        let mode = configuration.redis.notifications
        guard mode != .off else { return nil }
        let prefixes = configuration.watches.map { w -> String in
            if case .literal(let s)? = w.target.keyTemplate.parts.first { return s }
            return ""
        }
        let source: RedisNotificationSource
        let hashEvents = configuration.watches.contains { if case .hash = $0.target { true } else { false } }
        switch mode {
        case .tracking: source = .tracking(prefixes: prefixes)
        case .keyspace:
            source = .keyspaceEvents(prefix: prefixes.count == 1 ? prefixes[0] : "", configureServer: configuration.redis.enableKeyspaceEvents, hashEvents: hashEvents)
        case .off: return nil
        }
        let listener = RedisNotificationListener(configuration: target ?? currentRedisConfiguration, source: source, logger: logger)
        let watches = configuration.watches
        try listener.start { [weak self] n in
            guard let self else { return }
            let now = monotonicSeconds()
            switch n {
            case .keys(let names):
                let integers = self.keyIntegerColumns
                // Names are read back outside the lock; only the lookups hold it.
                var readings: [(watch: Int, candidates: [ShadowKey])] = []
                for name in names {
                    for (w, watch) in watches.enumerated() {
                        let c = watch.target.keyTemplate.candidates(name, integerColumns: integers[w], keyColumnCount: watch.keyColumns.count)
                        if !c.isEmpty { readings.append((w, c)) }
                    }
                }
                guard !readings.isEmpty else { return }
                self.shared.withLock { s in
                    for (w, candidates) in readings {
                        // The row keys that render to this name and have a row; else the only
                        // reading (a key written without a row); an ambiguous name without a row
                        // is left to the orphan scan.
                        let rows = candidates.filter { s.shadow.maps[w][$0] != nil }
                        for k in rows.isEmpty && candidates.count == 1 ? candidates : rows {
                            s.engine.noteNotification(watch: w, key: k, at: now)
                        }
                    }
                }
            case .flushed where self.configuration.redis.mode == .cluster:
                // A cluster node also announces a flush when, as a replica, it loads its master's
                // data (a full resync, e.g. a killed master rejoining). The cluster watch judges
                // flushes by each master's key count; here only a sweep is asked for: of the
                // node's slots (every key when it serves none), by the reconcile loop.
                let node = (target ?? self.currentRedisConfiguration).endpoint
                self.shared.withLock { _ = $0.flushAnnounced.insert(node) }
            case .flushed:
                let new = self.shared.withLock { s in
                    let runID = s.redisRunID
                    return s.noteIncident(.flush) { $0.runID = runID }
                }
                if new { self.logger.warning("Redis announced a flush (FLUSHALL/FLUSHDB); sweeping every key") }
            case .reconnected:
                // Changes made while the listener was away were not notified.
                self.metrics.recordReconnect(.redis)
                self.shared.withLock { $0.sweepRequested = true }
            case .disconnected(let e):
                self.metrics.recordRedisError()
                self.logger.warning("Redis notification connection lost", metadata: ["error": "\(e)"])
            case .stopped(let e):
                if let e {
                    self.shared.withLock { if $0.listener === listener { $0.listener = nil } }
                    self.logger.warning("Redis notifications stopped; Redis-side changes are seen only in sweeps until they are back", metadata: ["error": "\(e)"])
                }
            }
        }
        return listener
    }
}

extension Reconciler {
    /// Redis Cluster: the notifications of `[redis] notifications` on every master of the map,
    /// one listener each: started for masters that have none (at start, and for a promoted
    /// replica after a failover), stopped for nodes that are no longer masters. A listener that
    /// cannot start is tried again at the next call; sweeps cover its keys meanwhile.
    func syncClusterListeners(_ cluster: RedisClusterClient) {
        guard configuration.redis.notifications != .off else { return }
        let masters = Set(cluster.masters.map(\.endpoint))
        let (running, stale) = shared.withLock { s -> (Set<RedisConfiguration.Endpoint>, [RedisNotificationListener]) in
            let stale = s.clusterListeners.filter { !masters.contains($0.key) }
            for e in stale.keys { s.clusterListeners[e] = nil }
            return (Set(s.clusterListeners.keys), Array(stale.values))
        }
        for l in stale { l.stop() }
        for endpoint in masters.subtracting(running) {
            var c = redisConfiguration
            c.endpoint = endpoint
            do {
                guard let l = try startNotifications(on: c) else { continue }
                shared.withLock { $0.clusterListeners[endpoint] = l }
                logger.info("Redis notifications on a cluster master", metadata: [
                    "node": "\(endpoint)", "mode": "\(configuration.redis.notifications.rawValue)",
                ])
            } catch {
                logger.warning("cannot start Redis notifications on a cluster master; sweeps cover its keys", metadata: [
                    "node": "\(endpoint)", "error": "\(error)",
                ])
            }
        }
    }
}
