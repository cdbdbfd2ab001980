import Logging

/// Reads from replicas (`[redis] read_from = "replica"`, cluster or Sentinel; docs/redis-cluster.md,
/// "Reads from replicas"): change and notification reads and sweeps go to a replica of the key's
/// master, confirmations and rechecks to the master. Each replica read carries how stale its data
/// can be, measured from replication offsets (``RedisReplicaPool``), and the engine widens G by
/// that much for it; a replica's read never opens, confirms or resolves a divergence.
extension Reconciler {
    /// How far behind its master a replica may be for a read to go to it: half the smallest C, so
    /// that the read's staleness stays under C when its reply arrives (the engine sends a read
    /// more than C stale to the master).
    static func replicaMaxStaleness(_ configuration: ReconcilerConfiguration) -> Double {
        (configuration.watches.map(\.confirmSeconds).min() ?? 1) / 2
    }

    /// Whether a ``read(watch:_:_:redis:trigger:until:)`` for `trigger` may go to a replica: a
    /// sweep's. Change and notification reads go through ``readDue(_:redis:trigger:)``, which
    /// checks that the replica has caught up with the moment each read was due.
    static func replicaMayRead(_ trigger: ReconcilerMetrics.ReadTrigger) -> Bool {
        trigger == .sweep
    }

    /// Whether reads go to replicas at all.
    static func replicaPool(of redis: RedisRoute) -> RedisReplicaPool? {
        switch redis {
        case .cluster(let c): c.replicaPool
        case .sentinel(let s): s.replicaPool
        case .single: nil
        }
    }

    /// Samples every master's replication offset when due (every 100 ms), for the replicas' staleness.
    func sampleReplicationClocks(_ redis: RedisRoute) {
        let now = monotonicSeconds()
        switch redis {
        case .cluster(let c):
            guard let pool = c.replicaPool, pool.sampleDue(now: now) else { return }
            for (_, endpoint) in c.masters {
                if let conn = try? c.connection(to: endpoint), conn.isConnected { pool.sample(master: endpoint, conn) }
            }
        case .sentinel(let s):
            guard let pool = s.replicaPool, pool.sampleDue(now: now), s.connection.isConnected else { return }
            pool.sample(master: s.primary, s.connection)
        case .single:
            return
        }
    }

    /// Change and notification reads that came due. With replicas, each master's share goes to one
    /// of its replicas when the replica has every write its master had made when the read was due
    /// (so a read after a notification sees the write notified); a read whose replica has not
    /// caught up yet waits for the next offset sample, and goes to the master once its oldest
    /// request has waited the staleness allowed (a hot key requested again and again included). Without replicas, or when none answers, the master is read.
    func readDue(_ reads: [VerdictEngine.DueRead], redis: RedisRoute, trigger: ReconcilerMetrics.ReadTrigger) throws {
        guard Self.replicaMayServe(trigger), let pool = Self.replicaPool(of: redis) else {
            try read(reads.map { ($0.watch, $0.key) }, redis: redis, trigger: trigger)
            return
        }
        let now = monotonicSeconds()
        let maxStaleness = Self.replicaMaxStaleness(configuration)
        var onMaster: [(watch: Int, key: ShadowKey)] = []
        var later: [VerdictEngine.DueRead] = []
        /// One master's reads: on its replica when it is fresh enough for them.
        func dispatch(_ group: [VerdictEngine.DueRead], master: RedisConfiguration.Endpoint, replicas: [RedisClusterNode]?, oneByOne: Bool) throws {
            guard let stamp = stampReplica(pool, of: master, replicas: replicas, keys: group.count) else {
                onMaster += group.map { ($0.watch, $0.key) }
                return
            }
            var ready: [Int: [ShadowKey]] = [:]
            for r in group {
                if r.dueAt <= stamp.safeSince {
                    ready[r.watch, default: []].append(r.key)
                } else if now - r.waitingSince < maxStaleness {
                    later.append(r)
                } else {
                    onMaster.append((r.watch, r.key))
                }
            }
            for (w, keys) in ready.sorted(by: { $0.key < $1.key }) {
                do {
                    _ = try read(
                        watch: w, .keys(keys), keys.indices, redis: stamp.connection, trigger: trigger, policy: RedisClusterClient.once,
                        oneByOne: oneByOne, replicaSince: stamp.safeSince)
                    metrics.recordReplicaRead(node: "\(stamp.endpoint)", keys: keys.count, staleness: monotonicSeconds() - stamp.safeSince)
                } catch let e as RedisError {
                    pool.markDown(stamp.endpoint)
                    metrics.recordReplicaSkip(.unavailable, keys: keys.count)
                    logger.debug("read on a replica failed; reading on its master", metadata: ["replica": "\(stamp.endpoint)", "error": "\(e)"])
                    onMaster += keys.map { (w, $0) }
                }
            }
        }
        switch redis {
        case .cluster(let c):
            let topology = c.topology
            var groups: [Int: [VerdictEngine.DueRead]] = [:]
            var scratch: [UInt8] = []
            for r in reads {
                configuration.watches[r.watch].target.keyTemplate.appendRendered(r.key, to: &scratch)
                let slot = scratch.withUnsafeBytes { RedisClusterSlot.slot(of: $0) }
                if let s = topology.shardIndex(forSlot: slot) { groups[s, default: []].append(r) } else { onMaster.append((r.watch, r.key)) }
            }
            for (s, group) in groups.sorted(by: { $0.key < $1.key }) {
                try dispatch(group, master: topology.shards[s].master.endpoint, replicas: topology.shards[s].replicas, oneByOne: true)
            }
        case .sentinel(let s):
            try dispatch(reads, master: s.primary, replicas: nil, oneByOne: false)
        case .single:
            onMaster = reads.map { ($0.watch, $0.key) }
        }
        if !later.isEmpty {
            let waiting = later
            shared.withLock { $0.engine.reschedule(waiting, at: now + pool.sampleInterval / 2) }
        }
        if !onMaster.isEmpty { try read(onMaster, redis: redis, trigger: trigger) }
    }

    /// Whether due reads for `trigger` may go to a replica: change and notification reads.
    static func replicaMayServe(_ trigger: ReconcilerMetrics.ReadTrigger) -> Bool {
        trigger == .change || trigger == .notification
    }

    /// A replica of `master` (one of `replicas`, or of those the master lists in `ROLE` when nil)
    /// ready for a read, or nil when none can take it now (none answers, or the one that does is
    /// too far behind), counted for `keys` keys in `redis_replica_skips_total`.
    func stampReplica(
        _ pool: RedisReplicaPool, of master: RedisConfiguration.Endpoint, replicas: [RedisClusterNode]?, keys: Int
    ) -> RedisReplicaPool.Stamp? {
        let candidates = replicas.map { $0.filter { $0.health == nil || $0.health == "online" }.map(\.endpoint) }
            ?? pool.listedReplicas[master] ?? []
        var reason = ReconcilerMetrics.ReplicaSkip.unavailable
        for replica in candidates {
            switch pool.stamp(replica: replica, master: master, maxStaleness: Self.replicaMaxStaleness(configuration)) {
            case .success(let stamp):
                return stamp
            case .failure(.behind(let seconds)):
                reason = .behind
                if let seconds { metrics.recordReplicaRead(node: "\(replica)", keys: 0, staleness: seconds) }
            case .failure(.unavailable):
                continue
            }
        }
        metrics.recordReplicaSkip(reason, keys: keys)
        return nil
    }

    /// Reads `keys[range]` of one watch on a replica of the Sentinel primary `master` (one it
    /// lists in `ROLE`), as a sweep does (no read is due at a given time: the engine widens G by
    /// the replica's staleness). nil when no replica can take it now or the read on it failed: the
    /// caller reads the keys on the primary. Observations fed before a failure stand (each was a
    /// read of its own). A cluster's groups are read by ``readGroups(_:watch:_:trigger:concurrently:)``.
    func readOnReplica(
        _ pool: RedisReplicaPool, of master: RedisConfiguration.Endpoint, watch w: Int,
        _ keys: ReadKeys, _ range: Range<Int>, trigger: ReconcilerMetrics.ReadTrigger, until deadline: Double?
    ) throws -> ReadTally? {
        guard let stamp = stampReplica(pool, of: master, replicas: nil, keys: range.count) else { return nil }
        do {
            let t = try read(
                watch: w, keys, range, redis: stamp.connection, trigger: trigger, until: deadline, policy: RedisClusterClient.once,
                replicaSince: stamp.safeSince)
            metrics.recordReplicaRead(node: "\(stamp.endpoint)", keys: t.checked, staleness: monotonicSeconds() - stamp.safeSince)
            return t
        } catch let e as RedisError {
            pool.markDown(stamp.endpoint)
            metrics.recordReplicaSkip(.unavailable, keys: range.count)
            logger.debug("read on a replica failed; reading on its master", metadata: ["replica": "\(stamp.endpoint)", "error": "\(e)"])
            return nil
        }
    }
}
