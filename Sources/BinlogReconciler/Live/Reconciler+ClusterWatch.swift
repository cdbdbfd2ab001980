import Logging

/// What the cluster watch saw of each master at its last poll.
struct ClusterWatch {
    struct Seen {
        var endpoint: RedisConfiguration.Endpoint
        var runID: String
        var keys: Int
        var slotCount: Int
    }
    /// By node id: the masters of the last poll that answered.
    var seen: [String: Seen] = [:]
    var polled = false
    var nextPoll = 0.0
    static let interval = 0.5
}

extension Reconciler {
    /// Redis Cluster: the watchdog's job for every master, on the reconcile thread. Each poll asks
    /// every master of the map for its `run_id` and key count and compares with the last poll, by
    /// node id:
    /// - a node that is a master now and was not, while a master of the last poll is one no longer
    ///   (a replica was promoted: `CLUSTER FAILOVER`, or its master died) → `redis_failover` for
    ///   the new master; slots that move between masters (a reshard) are not a failover;
    /// - the same node with a new `run_id` → `redis_restart`;
    /// - fewer than half the keys on a node that serves as many slots as before → `redis_flush`
    ///   (a reshard moves keys away with their slots).
    /// Each is an incident scoped to that node (its address, node id and slots in the `summary`
    /// record written after the sweep that reads them), which requests a sweep of the keys of the
    /// node's slots at once. A flush a master announced (tracking) requests one too, without an
    /// incident.
    func pollCluster(_ cluster: RedisClusterClient, _ watch: inout ClusterWatch, now: Double) {
        requestSweepOfFlushedMasters(cluster)
        guard now >= watch.nextPoll else { return }
        watch.nextPoll = now + ClusterWatch.interval
        let statuses = cluster.pollMasters()
        syncClusterListeners(cluster)
        let current = Set(statuses.map(\.nodeID))
        let lost = watch.seen.filter { !current.contains($0.key) }
        for id in lost.keys { watch.seen[id] = nil }
        let first = !watch.polled
        watch.polled = true
        for st in statuses {
            guard let runID = st.runID, let keys = st.keys else { continue }
            let slotCount = st.slotRanges.reduce(0) { $0 + $1.count }
            let now = ClusterWatch.Seen(endpoint: st.endpoint, runID: runID, keys: keys, slotCount: slotCount)
            let before = watch.seen[st.nodeID]
            watch.seen[st.nodeID] = now
            let reason: RedisIncident.Reason
            var previous: ClusterWatch.Seen? = before
            if let before {
                if before.runID != runID {
                    reason = .restart
                } else if before.keys >= 2 && keys * 2 < before.keys && slotCount >= before.slotCount {
                    reason = .flush
                } else {
                    continue
                }
            } else if !first && !lost.isEmpty {
                reason = .failover
                previous = lost.values.first
            } else {
                continue
            }
            let isNew = shared.withLock { s in
                s.noteIncident(reason, slots: RedisClusterSlotSet(st.slotRanges)) {
                    $0.node = "\(st.endpoint)"
                    $0.nodeID = st.nodeID
                    $0.runID = runID
                    $0.previousRunID = previous?.runID
                    if $0.keysBefore == nil { $0.keysBefore = previous?.keys }
                    $0.keysAfter = keys
                }
            }
            if isNew {
                logger.warning("Redis Cluster \(reason.text): sweeping the keys of the node's slots", metadata: [
                    "node": "\(st.endpoint)", "node_id": "\(st.nodeID)", "previous": "\(previous.map { "\($0.endpoint)" } ?? "-")",
                    "slots": "\(slotCount)", "keys": "\(previous?.keys ?? 0) -> \(keys)",
                ])
            }
        }
    }

    /// Masters that announced a flush (``LiveState/flushAnnounced``): a sweep of the slots each
    /// serves now; of every key for a node that serves none (a replica loading its master's data
    /// announces one; the map may also be older than the node's promotion).
    func requestSweepOfFlushedMasters(_ cluster: RedisClusterClient) {
        let flushed = shared.withLock { s -> Set<RedisConfiguration.Endpoint> in
            defer { s.flushAnnounced = [] }
            return s.flushAnnounced
        }
        guard !flushed.isEmpty else { return }
        let topology = cluster.topology
        var slots: RedisClusterSlotSet? = RedisClusterSlotSet()
        for node in flushed {
            if let shard = topology.shardIndex(ofMaster: node), !topology.shards[shard].slotRanges.isEmpty {
                slots?.formUnion(RedisClusterSlotSet(topology.shards[shard].slotRanges))
            } else {
                slots = nil
            }
        }
        shared.withLock { $0.requestSweep(slots: slots) }
    }
}
