import ReconcilerCore
// MARK: - RedisClusterNode

/// One node of a Redis Cluster, as `CLUSTER SHARDS` or `CLUSTER SLOTS` describes it.
public struct RedisClusterNode: Sendable, Hashable, CustomStringConvertible {
    public enum Role: String, Sendable, Hashable { case master, replica }

    /// The node's 40-character id (`CLUSTER MYID`); empty when the server did not send one
    /// (`CLUSTER SLOTS` before Redis 4.0).
    public var id: String
    /// Where clients reach it: `.tcp(host:port:)`.
    public var endpoint: RedisConfiguration.Endpoint
    public var role: Role
    /// `online`, `failed` or `loading` (`CLUSTER SHARDS` only; nil from `CLUSTER SLOTS`). Redis
    /// 7.0 says `loading` for a replica whose replication offset is still 0 (nothing written to
    /// its master since it attached), and leaves such a replica out of `CLUSTER SLOTS`.
    public var health: String?
    /// The node's replication offset (`CLUSTER SHARDS` only).
    public var replicationOffset: Int64?

    public init(
        id: String, endpoint: RedisConfiguration.Endpoint, role: Role, health: String? = nil,
        replicationOffset: Int64? = nil
    ) {
        self.id = id
        self.endpoint = endpoint
        self.role = role
        self.health = health
        self.replicationOffset = replicationOffset
    }

    /// `127.0.0.1:7000 (master 07c37dfe…)`.
    public var description: String { "\(endpoint) (\(role.rawValue) \(id.prefix(8)))" }
}

// MARK: - RedisClusterShard

/// A master, its replicas, and the hash slots the master serves.
public struct RedisClusterShard: Sendable, Hashable {
    public var master: RedisClusterNode
    public var replicas: [RedisClusterNode]
    /// Disjoint, ascending ranges of slots (0...16383); empty for a master without slots.
    public var slotRanges: [ClosedRange<Int>]

    public init(master: RedisClusterNode, replicas: [RedisClusterNode] = [], slotRanges: [ClosedRange<Int>]) {
        self.master = master
        self.replicas = replicas
        self.slotRanges = slotRanges
    }

    /// How many slots the shard serves.
    public var slotCount: Int { slotRanges.reduce(0) { $0 + $1.count } }
}

// MARK: - RedisClusterTopology

/// The slot map of a Redis Cluster: every one of the 16,384 hash slots → the shard (master and
/// replicas) that serves it, or none.
///
/// Built from a node's `CLUSTER SHARDS` reply (Redis 7.0+) with ``init(clusterShardsReply:connectedHost:)``
/// or its `CLUSTER SLOTS` reply (older servers) with ``init(clusterSlotsReply:connectedHost:)``;
/// `RedisConnection.clusterTopology()` asks a node and picks the command. Slot lookups are one
/// array read. A `MOVED` redirect can be applied in place (``apply(_:)``) when it names a known
/// master; otherwise the map is stale enough to read again.
public struct RedisClusterTopology: Sendable, Hashable {
    /// Shards with slots first, by their first slot; then masters without slots, by endpoint.
    public private(set) var shards: [RedisClusterShard]
    /// Slot → index in `shards`, or -1 when no master serves it.
    private var owner: [Int16]

    /// A slot map from shards whose slot ranges must not overlap.
    /// - Throws: `.protocol` when a slot is claimed twice or a range is outside 0...16383.
    public init(shards: [RedisClusterShard]) throws(RedisError) {
        guard shards.count <= Int(Int16.max) else {
            throw RedisError(.protocol, "cluster slot map: \(shards.count) shards (more than 32,767)")
        }
        let sorted = shards.sorted { a, b in
            switch (a.slotRanges.map(\.lowerBound).min(), b.slotRanges.map(\.lowerBound).min()) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.master.endpoint.description < b.master.endpoint.description
            }
        }
        var owner = [Int16](repeating: -1, count: RedisClusterSlot.count)
        var normalized: [RedisClusterShard] = []
        normalized.reserveCapacity(sorted.count)
        for (index, var shard) in sorted.enumerated() {
            for range in shard.slotRanges {
                guard range.lowerBound >= 0, range.upperBound < RedisClusterSlot.count else {
                    throw RedisError(.protocol, "cluster slot map: slot range \(range) of \(shard.master) is outside 0...16383")
                }
                for slot in range {
                    guard owner[slot] < 0 else {
                        let other = sorted[Int(owner[slot])].master
                        throw RedisError(.protocol, "cluster slot map: slot \(slot) is claimed by \(other) and by \(shard.master)")
                    }
                    owner[slot] = Int16(index)
                }
            }
            shard.slotRanges = Self.ranges(owner, index)
            normalized.append(shard)
        }
        self.shards = normalized
        self.owner = owner
    }

    // MARK: Lookups

    /// The index in `shards` of the shard serving `slot`; nil when no master serves it or the
    /// slot is outside 0..<16384.
    @inlinable
    public func shardIndex(forSlot slot: Int) -> Int? {
        guard slot >= 0, slot < RedisClusterSlot.count else { return nil }
        let index = ownerOfSlot(slot)
        return index < 0 ? nil : Int(index)
    }

    /// The index in `shards` of the shard serving the key (its hash tag honoured).
    @inlinable
    public func shardIndex(forKey key: UnsafeRawBufferPointer) -> Int? {
        shardIndex(forSlot: RedisClusterSlot.slot(of: key))
    }

    /// The index in `shards` of the shard serving the key.
    public func shardIndex(forKey key: String) -> Int? {
        shardIndex(forSlot: RedisClusterSlot.slot(of: key))
    }

    /// The master serving `slot`, if any.
    public func master(forSlot slot: Int) -> RedisClusterNode? {
        shardIndex(forSlot: slot).map { shards[$0].master }
    }

    /// The index of the shard whose master is at `endpoint`.
    public func shardIndex(ofMaster endpoint: RedisConfiguration.Endpoint) -> Int? {
        shards.firstIndex { $0.master.endpoint == endpoint }
    }

    @usableFromInline
    func ownerOfSlot(_ slot: Int) -> Int16 { owner[slot] }

    // MARK: Coverage

    /// How many of the 16,384 slots a master serves.
    public var coveredSlotCount: Int { owner.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Whether every slot is served (what `cluster_state:ok` needs, with the default
    /// `cluster-require-full-coverage yes`).
    public var isFullyCovered: Bool { !owner.contains(-1) }

    /// The slots no master serves, as ascending ranges (empty when fully covered).
    public var uncoveredSlotRanges: [ClosedRange<Int>] { Self.ranges(owner, -1) }

    // MARK: Redirects

    /// Applies a `MOVED` redirect to the map: its slot now belongs to the shard whose master is
    /// at the redirect's target.
    ///
    /// - Returns: false, and leaves the map unchanged, for an `ASK` redirect (a one-off, never
    ///   a map change), an empty target host (resolve it first), or a target that is no known
    ///   master (a failover or a new node: read the whole map again), or a slot outside 0..<16384.
    @discardableResult
    public mutating func apply(_ redirect: RedisClusterRedirect) -> Bool {
        guard redirect.kind == .moved, (0..<RedisClusterSlot.count).contains(redirect.slot),
            let to = shardIndex(ofMaster: redirect.target)
        else { return false }
        if case .tcp(let host, _) = redirect.target, host.isEmpty { return false }
        let from = owner[redirect.slot]
        guard from != Int16(to) else { return true }
        owner[redirect.slot] = Int16(to)
        if from >= 0 { shards[Int(from)].slotRanges = Self.ranges(owner, from) }
        shards[to].slotRanges = Self.ranges(owner, Int16(to))
        return true
    }

    /// The ascending slot ranges whose owner is `index`.
    private static func ranges(_ owner: [Int16], _ index: Int16) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        var start: Int?
        for slot in 0..<owner.count {
            if owner[slot] == index {
                if start == nil { start = slot }
            } else if let s = start {
                out.append(s...(slot - 1))
                start = nil
            }
        }
        if let s = start { out.append(s...(owner.count - 1)) }
        return out
    }

    private static func ranges(_ owner: [Int16], _ index: Int) -> [ClosedRange<Int>] {
        ranges(owner, Int16(truncatingIfNeeded: index))
    }
}
