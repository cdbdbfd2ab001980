import ReconcilerCore
// MARK: - RedisClusterKeyGroups

/// A batch of keys split for a cluster: per shard, the keys in slot order and cut into batches that
/// each stay inside one slot (what a per-slot `MGET` needs: a multi-key command whose keys are in
/// different slots answers `CROSSSLOT`).
///
/// Keys are the caller's, by index; the caller gives each key's slot
/// (`RedisClusterSlot.slot(of:)`). Grouping is a counting sort over the 16,384 slots: O(keys +
/// slots), no per-key allocation. `bench/redis_cluster_mget_baseline.c` groups the same way.
public struct RedisClusterKeyGroups: Sendable, Hashable {
    public struct Shard: Sendable, Hashable {
        /// Indices of the caller's keys served by this shard, in ascending slot order (keys of one
        /// slot in the caller's order).
        public var keys: [Int] = []
        /// Ranges of `keys`: each within one slot and at most `maxBatch` long, in order.
        public var batches: [Range<Int>] = []
    }

    /// One entry per `topology.shards` entry, in the same order.
    public var shards: [Shard]
    /// Indices of keys whose slot no master serves (or whose slot is outside 0..<16384).
    public var unserved: [Int]

    /// - Parameters:
    ///   - slots: the slot of each key, `slots[i]` for key `i`.
    ///   - topology: the slot map that says which shard serves each slot.
    ///   - maxBatch: the most keys in one batch (at least 1).
    public init(slots: [Int], topology: RedisClusterTopology, maxBatch: Int) {
        let maxBatch = max(1, maxBatch)
        // Keys counted per slot, then placed in slot order.
        var start = [Int](repeating: 0, count: RedisClusterSlot.count + 1)
        var unserved: [Int] = []
        for (i, slot) in slots.enumerated() {
            if topology.shardIndex(forSlot: slot) == nil { unserved.append(i) } else { start[slot + 1] += 1 }
        }
        for s in 0..<RedisClusterSlot.count { start[s + 1] += start[s] }
        var ordered = [Int](repeating: 0, count: start[RedisClusterSlot.count])
        var fill = start
        for (i, slot) in slots.enumerated() where topology.shardIndex(forSlot: slot) != nil {
            ordered[fill[slot]] = i
            fill[slot] += 1
        }
        var shards = [Shard](repeating: Shard(), count: topology.shards.count)
        for slot in 0..<RedisClusterSlot.count where start[slot] < start[slot + 1] {
            guard let s = topology.shardIndex(forSlot: slot) else { continue }
            var from = start[slot]
            while from < start[slot + 1] {
                let to = min(from + maxBatch, start[slot + 1])
                let base = shards[s].keys.count
                shards[s].keys.append(contentsOf: ordered[from..<to])
                shards[s].batches.append(base..<(base + to - from))
                from = to
            }
        }
        self.shards = shards
        self.unserved = unserved
    }
}
