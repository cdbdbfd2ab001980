import Foundation
import Synchronization
import Logging

extension Reconciler {
    /// Keys a cluster read takes at a time in a sweep (read whole, then the slice's deadline is
    /// looked at again): about 10-20 ms of reads across the masters.
    static let clusterSweepChunk = 20_000

    /// `keys[range]` of one watch read where they live: one Redis as
    /// ``read(watch:_:_:redis:trigger:until:policy:oneByOne:)`` reads it; a Redis Cluster with
    /// ``readCluster(watch:_:_:cluster:trigger:)``. With a `deadline` (a sweep's slice), a
    /// prefix of `range` is read (`checked` says how long).
    func read(
        watch w: Int, _ keys: ReadKeys, _ range: Range<Int>, redis: RedisRoute, trigger: ReconcilerMetrics.ReadTrigger,
        until deadline: Double? = nil
    ) throws -> ReadTally {
        switch redis {
        case .single(let c):
            return try read(watch: w, keys, range, redis: c, trigger: trigger, until: deadline)
        case .cluster(let cluster):
            let end = deadline == nil ? range.upperBound : min(range.upperBound, range.lowerBound + Self.clusterSweepChunk)
            return try readCluster(watch: w, keys, range.lowerBound..<end, cluster: cluster, trigger: trigger)
        case .sentinel(let s):
            if let pool = s.replicaPool, Self.replicaMayRead(trigger),
                let t = try readOnReplica(pool, of: s.primary, watch: w, keys, range, trigger: trigger, until: deadline) {
                return t
            }
            let t = try s.withPrimaryRethrowing(Self.readRetry) { c in try read(watch: w, keys, range, redis: c, trigger: trigger, until: deadline) }
            metrics.recordMasterRead(node: "\(s.primary)", keys: t.checked)
            return t
        }
    }

    /// Reads `keys[range]` on a Redis Cluster: the keys are grouped by the master that serves
    /// their slot and each group is read on its master with pipelined `GET`s (or `HGET`s), which
    /// may span slots. A group whose read fails (`MOVED` after a reshard, `ASK` / `TRYAGAIN`
    /// during a migration, `CLUSTERDOWN`, a master that went away) gave no observation: the map
    /// is read again and the group's keys are grouped and read again, up to the retry policy's
    /// attempts; keys still unread then are left to the next read (logged, never reported).
    /// - Returns: the keys read and the missing ones; `checked` is `range.count` (keys left
    ///   unread are counted as read so a sweep moves on; they are in the log and the metric).
    func readCluster(
        watch w: Int, _ keys: ReadKeys, _ range: Range<Int>, cluster: RedisClusterClient, trigger: ReconcilerMetrics.ReadTrigger
    ) throws -> ReadTally {
        guard !range.isEmpty else { return ReadTally() }
        let template = configuration.watches[w].target.keyTemplate
        var pending = Array(range)
        var tally = ReadTally()
        var scratch: [UInt8] = []
        scratch.reserveCapacity(128)
        var attempt = 1
        let maxAttempts = RedisRetryPolicy.default.maxAttempts
        /// After a replica failed, the retries read the masters.
        var mastersOnly = false
        while !pending.isEmpty {
            let topology = cluster.topology
            var groups = [[Int]](repeating: [], count: topology.shards.count)
            var again: [Int] = []
            for i in pending {
                template.appendRendered(keys[i], to: &scratch)
                let slot = scratch.withUnsafeBytes { RedisClusterSlot.slot(of: $0) }
                if let s = topology.shardIndex(forSlot: slot) { groups[s].append(i) } else { again.append(i) }
            }
            var failure: RedisError? = again.isEmpty ? nil : RedisError(.server, "CLUSTERDOWN Hash slot not served", serverMessage: "CLUSTERDOWN Hash slot not served")
            // Where each group is read: on a replica of its master (sweeps, read_from = "replica")
            // or on the master; chosen here, on the loop's thread (the pool and the client are its).
            var plans: [GroupRead] = []
            for (s, group) in groups.enumerated() where !group.isEmpty {
                let master = topology.shards[s].master.endpoint
                if !mastersOnly, let pool = cluster.replicaPool, Self.replicaMayRead(trigger),
                    let stamp = stampReplica(pool, of: master, replicas: topology.shards[s].replicas, keys: group.count) {
                    plans.append(GroupRead(keys: group, connection: stamp.connection, endpoint: stamp.endpoint, replica: stamp))
                    continue
                }
                do {
                    plans.append(GroupRead(keys: group, connection: try cluster.connection(to: master), endpoint: master, replica: nil))
                } catch {
                    failure = error
                    again.append(contentsOf: group)
                }
            }
            // The masters (or replicas) are read at the same time, one thread each, when there is
            // enough to read for it to pay (a sweep's slice; a change read of a few keys stays here).
            let results = readGroups(plans, watch: w, keys, trigger: trigger, concurrently: plans.count > 1 && range.count >= 1000)
            for (plan, result) in zip(plans, results) {
                switch result {
                case .success(let t):
                    tally.missing += t.missing
                    if let r = plan.replica {
                        metrics.recordReplicaRead(node: "\(r.endpoint)", keys: plan.keys.count, staleness: monotonicSeconds() - r.safeSince)
                    } else {
                        metrics.recordMasterRead(node: "\(plan.endpoint)", keys: plan.keys.count)
                    }
                case .failure(let error):
                    if let r = plan.replica {
                        // The replica failed: its keys are read on the master.
                        cluster.replicaPool?.markDown(r.endpoint)
                        metrics.recordReplicaSkip(.unavailable, keys: plan.keys.count)
                        mastersOnly = true
                        failure = failure ?? RedisError(.connectionLost, "read on replica \(r.endpoint) failed: \(error)")
                    } else {
                        failure = (error as? RedisError) ?? RedisError(.protocol, "\(error)")
                    }
                    again.append(contentsOf: plan.keys)
                }
            }
            pending = again
            guard let failure, !pending.isEmpty else { break }
            if mastersOnly && failure.kind == .connectionLost && attempt == 1 {
                // Only a replica failed: read its keys on the master at once.
                attempt += 1
                continue
            }
            guard attempt < maxAttempts else {
                metrics.recordClusterUnread(pending.count)
                logger.warning("Redis Cluster: keys left unread after \(attempt) attempts (read again later)", metadata: [
                    "keys": "\(pending.count)", "error": "\(failure)",
                ])
                break
            }
            try cluster.recover(from: failure, attempt: attempt)
            attempt += 1
        }
        tally.checked = range.count
        return tally
    }
}

/// One group of a cluster read: its keys (indexes into the read's keys), the connection it is read
/// on, and the replica's stamp when that is a replica. `@unchecked Sendable`: handed to exactly one
/// reading thread, which alone uses its connection while the reconcile loop waits for it.
struct GroupRead: @unchecked Sendable {
    var keys: [Int]
    var connection: RedisConnection
    var endpoint: RedisConfiguration.Endpoint
    var replica: RedisReplicaPool.Stamp?
}

extension Reconciler {
    /// Reads each group on its connection (`concurrently`: one thread per group, the caller's for
    /// the first), as ``read(watch:_:_:redis:trigger:until:policy:oneByOne:replicaSince:)`` does
    /// with pipelined `GET`s; one result per group, in order.
    func readGroups(
        _ plans: [GroupRead], watch w: Int, _ keys: ReadKeys, trigger: ReconcilerMetrics.ReadTrigger, concurrently: Bool
    ) -> [Result<ReadTally, any Error>] {
        let readOne: @Sendable (GroupRead) -> Result<ReadTally, any Error> = { plan in
            Result {
                var t = try self.read(
                    watch: w, .keys(plan.keys.map { keys[$0] }), 0..<plan.keys.count, redis: plan.connection, trigger: trigger,
                    policy: RedisClusterClient.once, oneByOne: true, replicaSince: plan.replica?.safeSince)
                t.checked = 0  // counted once by the caller
                return t
            }
        }
        guard concurrently else { return plans.map(readOne) }
        let results = Mutex([Result<ReadTally, any Error>?](repeating: nil, count: plans.count))
        DispatchQueue.concurrentPerform(iterations: plans.count) { i in
            let r = readOne(plans[i])
            results.withLock { $0[i] = r }
        }
        return results.withLock { $0.map { $0! } }
    }
}
