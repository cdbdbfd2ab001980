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
                let t = try readOnReplica(pool, of: s.primary, watch: w, keys, range, trigger: trigger, until: deadline, oneByOne: false) {
                return t
            }
            return try s.withPrimaryRethrowing(Self.readRetry) { c in try read(watch: w, keys, range, redis: c, trigger: trigger, until: deadline) }
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
            for (s, group) in groups.enumerated() where !group.isEmpty {
                if let pool = cluster.replicaPool, Self.replicaMayRead(trigger),
                    let t = try readOnReplica(
                        pool, of: topology.shards[s].master.endpoint, replicas: topology.shards[s].replicas, watch: w,
                        .keys(group.map { keys[$0] }), 0..<group.count, trigger: trigger, until: nil, oneByOne: true) {
                    tally.missing += t.missing
                    continue
                }
                do {
                    let conn = try cluster.connection(to: topology.shards[s].master.endpoint)
                    var t = try read(
                        watch: w, .keys(group.map { keys[$0] }), 0..<group.count, redis: conn, trigger: trigger,
                        policy: RedisClusterClient.once, oneByOne: true)
                    t.checked = 0  // counted once below
                    tally += t
                } catch let error as RedisError {
                    failure = error
                    again.append(contentsOf: group)
                }
            }
            pending = again
            guard let failure, !pending.isEmpty else { break }
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
