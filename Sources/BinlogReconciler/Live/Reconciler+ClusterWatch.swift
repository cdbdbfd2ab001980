import Logging

/// What the cluster watch saw of each shard's master at its last poll.
struct ClusterWatch {
    struct Seen {
        var endpoint: RedisConfiguration.Endpoint
        var nodeID: String
        var runID: String
        var keys: Int
    }
    /// By shard, keyed by the shard's first slot (shard indices change with the map).
    var seen: [Int: Seen] = [:]
    var nextPoll = 0.0
    static let interval = 0.5
}

extension Reconciler {
    /// Redis Cluster: the watchdog's job for every master, on the reconcile thread. Each poll asks
    /// every master of the map for its `run_id` and key count and compares with the last poll, per
    /// shard (identified by its first slot):
    /// - another node is the shard's master → `redis_failover` for the new master;
    /// - the same node with a new `run_id` → `redis_restart`;
    /// - fewer than half the keys → `redis_flush`.
    /// Each is an incident scoped to that node (its address, node id and slots in the `summary`
    /// record written after the next sweep), which requests a sweep at once.
    func pollCluster(_ cluster: RedisClusterClient, _ watch: inout ClusterWatch, now: Double) {
        guard now >= watch.nextPoll else { return }
        watch.nextPoll = now + ClusterWatch.interval
        let statuses = cluster.pollMasters()
        syncClusterListeners(cluster)
        for st in statuses {
            guard let runID = st.runID, let keys = st.keys, let first = st.slotRanges.first?.lowerBound else { continue }
            let current = ClusterWatch.Seen(endpoint: st.endpoint, nodeID: st.nodeID, runID: runID, keys: keys)
            defer { watch.seen[first] = current }
            guard let before = watch.seen[first] else { continue }
            let reason: RedisIncident.Reason
            if before.nodeID != st.nodeID && before.endpoint != st.endpoint {
                reason = .failover
            } else if before.runID != runID {
                reason = .restart
            } else if before.keys >= 2 && keys * 2 < before.keys {
                reason = .flush
            } else {
                continue
            }
            let isNew = shared.withLock { s in
                s.noteIncident(reason) {
                    $0.node = "\(st.endpoint)"
                    $0.nodeID = st.nodeID
                    $0.slots = st.slotRanges
                    $0.runID = runID
                    $0.previousRunID = before.runID
                    if $0.keysBefore == nil { $0.keysBefore = before.keys }
                    $0.keysAfter = keys
                }
            }
            if isNew {
                logger.warning("Redis Cluster \(reason.text): sweeping every key", metadata: [
                    "node": "\(st.endpoint)", "node_id": "\(st.nodeID)", "previous": "\(before.endpoint)",
                    "slots": "\(st.slotRanges.count) range(s)", "keys": "\(before.keys) -> \(keys)",
                ])
            }
        }
    }
}
