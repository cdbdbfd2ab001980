import Logging

/// Where the reconcile loop sends its key commands: one Redis server, or the masters of a Redis
/// Cluster (`[redis] mode = "cluster"`), which route each key to the master serving its slot and
/// follow `MOVED` / `ASK` / `TRYAGAIN` (``RedisClusterClient``), or the primary that a quorum of
/// sentinels names (`mode = "sentinel"`, ``RedisSentinelClient``: resolved again on a failover).
/// Used by the reconcile loop's thread only.
enum RedisRoute {
    case single(RedisConnection)
    case cluster(RedisClusterClient)
    case sentinel(RedisSentinelClient)

    /// Runs a command on the node that holds `key`: with `policy`'s retries on one Redis; with the
    /// cluster client's redirections and retries on a cluster.
    func withKeyOwner<T>(
        _ key: String, policy: RedisRetryPolicy, doing what: String, _ body: (RedisConnection) throws(RedisError) -> T
    ) throws(RedisError) -> T {
        switch self {
        case .single(let c):
            return try c.withRetry(policy, body)
        case .cluster(let cluster):
            return try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: what) { c, _ throws(RedisError) in try body(c) }
        case .sentinel(let s):
            return try s.withPrimary(policy, body)
        }
    }

    /// Runs `body` on every master that serves slots (one Redis: on it), for commands that are
    /// not about one key (`SCAN`). When a master cannot be reached, the map is read again and
    /// every master is visited again (up to three times), so `body` must tolerate a repeat.
    /// `serving` (cluster): only the masters that serve some of these slots.
    func forEachMaster(
        policy: RedisRetryPolicy, serving slots: RedisClusterSlotSet? = nil, _ body: (RedisConnection) throws(RedisError) -> Void
    ) throws(RedisError) {
        switch self {
        case .single(let c):
            try c.withRetry(policy, body)
        case .sentinel(let s):
            try s.withPrimary(policy, body)
        case .cluster(let cluster):
            var attempt = 0
            while true {
                do throws(RedisError) {
                    for (shard, endpoint) in cluster.masters
                    where slots.map({ s in cluster.topology.shards[shard].slotRanges.contains { $0.contains(where: s.contains) } }) ?? true {
                        try cluster.connection(to: endpoint).withRetry(RedisClusterClient.once, body)
                    }
                    return
                } catch where error.isRetryable && attempt < 3 {
                    attempt += 1
                    sleepFor(policy.delay(afterAttempt: attempt))
                    try cluster.refresh()
                }
            }
        }
    }
}
