import ReconcilerCore
// MARK: - Building the slot map from CLUSTER SHARDS / CLUSTER SLOTS

extension RedisClusterTopology {
    /// The slot map from a `CLUSTER SHARDS` reply (Redis 7.0+), as hiredis 0.14 gives it in
    /// RESP2: an array of shards, each a flat key/value array
    /// `["slots", [start, end, start, end, ...], "nodes", [node, ...]]`, each node a flat
    /// key/value array with `id`, `port`, `ip`, `endpoint`, `role` (`master`/`replica`),
    /// `replication-offset`, `health` (and optionally `hostname`, `tls-port`). Unknown keys are
    /// ignored.
    ///
    /// A node's address is its `endpoint` (the one `cluster-preferred-endpoint-type` tells
    /// clients to use), else its `ip` when the endpoint is `?` or empty, else `connectedHost`.
    /// A shard whose nodes include no master (all replicas of a removed master) is skipped when
    /// it has no slots.
    ///
    /// - Parameter connectedHost: the host of the node that answered, for addresses it left empty.
    /// - Throws: `.protocol` for a reply of another shape, or slots claimed twice.
    public init(clusterShardsReply reply: RedisReply, connectedHost: String? = nil) throws(RedisError) {
        guard let items = reply.array else { throw Self.shapeError("CLUSTER SHARDS", "not an array: \(reply.prefixDescription)") }
        var shards: [RedisClusterShard] = []
        for (i, item) in items.enumerated() {
            let fields = try Self.map(item, "CLUSTER SHARDS shard #\(i)")
            guard let slotList = fields["slots"]?.array, slotList.count % 2 == 0 else {
                throw Self.shapeError("CLUSTER SHARDS", "shard #\(i) has no even 'slots' list")
            }
            var ranges: [ClosedRange<Int>] = []
            var k = 0
            while k < slotList.count {
                guard let lo = slotList[k].integer, let hi = slotList[k + 1].integer, lo <= hi else {
                    throw Self.shapeError("CLUSTER SHARDS", "shard #\(i) has a bad slot range \(slotList[k]) \(slotList[k + 1])")
                }
                ranges.append(Int(lo)...Int(hi))
                k += 2
            }
            guard let nodeList = fields["nodes"]?.array else {
                throw Self.shapeError("CLUSTER SHARDS", "shard #\(i) has no 'nodes' list")
            }
            var master: RedisClusterNode?
            var replicas: [RedisClusterNode] = []
            for (j, n) in nodeList.enumerated() {
                let node = try Self.shardsNode(n, "CLUSTER SHARDS shard #\(i) node #\(j)", connectedHost: connectedHost)
                if node.role == .replica {
                    replicas.append(node)
                } else if master == nil {
                    master = node
                } else {
                    throw Self.shapeError("CLUSTER SHARDS", "shard #\(i) has two masters")
                }
            }
            guard let master else {
                if ranges.isEmpty { continue }
                throw Self.shapeError("CLUSTER SHARDS", "shard #\(i) serves slots but has no master")
            }
            shards.append(RedisClusterShard(master: master, replicas: replicas, slotRanges: ranges))
        }
        try self.init(shards: shards)
    }

    /// The slot map from a `CLUSTER SLOTS` reply (servers before 7.0; deprecated since): an
    /// array of `[start, end, master, replica...]`, each node `[host, port, id?, metadata?]`
    /// (the id since Redis 4.0, a metadata map since 7.0). Ranges are grouped into shards by
    /// the master's id (by its address when there is no id). Masters without slots do not appear.
    ///
    /// - Parameter connectedHost: the host of the node that answered, for nodes whose host is empty.
    /// - Throws: `.protocol` for a reply of another shape, or slots claimed twice.
    public init(clusterSlotsReply reply: RedisReply, connectedHost: String? = nil) throws(RedisError) {
        guard let items = reply.array else { throw Self.shapeError("CLUSTER SLOTS", "not an array: \(reply.prefixDescription)") }
        var shards: [RedisClusterShard] = []
        var shardOf: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            guard let entry = item.array, entry.count >= 3, let lo = entry[0].integer, let hi = entry[1].integer, lo <= hi
            else { throw Self.shapeError("CLUSTER SLOTS", "entry #\(i) is not [start, end, master, ...]") }
            var nodes: [RedisClusterNode] = []
            for (j, n) in entry[2...].enumerated() {
                guard let parts = n.array, parts.count >= 2, let host = parts[0].string, let port = parts[1].integer,
                    (1...65_535).contains(port)
                else { throw Self.shapeError("CLUSTER SLOTS", "entry #\(i) node #\(j) is not [host, port, ...]") }
                let id = parts.count > 2 ? (parts[2].string ?? "") : ""
                let endpoint = RedisConfiguration.Endpoint.tcp(host: host.isEmpty ? (connectedHost ?? "") : host, port: Int(port))
                nodes.append(RedisClusterNode(id: id, endpoint: endpoint, role: j == 0 ? .master : .replica))
            }
            let key = nodes[0].id.isEmpty ? nodes[0].endpoint.description : nodes[0].id
            if let s = shardOf[key] {
                shards[s].slotRanges.append(Int(lo)...Int(hi))
                for r in nodes.dropFirst() where !shards[s].replicas.contains(r) { shards[s].replicas.append(r) }
            } else {
                shardOf[key] = shards.count
                shards.append(RedisClusterShard(master: nodes[0], replicas: Array(nodes.dropFirst()), slotRanges: [Int(lo)...Int(hi)]))
            }
        }
        try self.init(shards: shards)
    }

    // MARK: Helpers

    private static func shardsNode(_ reply: RedisReply, _ what: String, connectedHost: String?) throws(RedisError) -> RedisClusterNode {
        let f = try map(reply, what)
        guard let id = f["id"]?.string else { throw shapeError("CLUSTER SHARDS", "\(what) has no 'id'") }
        guard let port = f["port"]?.integer, (1...65_535).contains(port) else {
            throw shapeError("CLUSTER SHARDS", "\(what) has no valid 'port' (a TLS-only node is not supported)")
        }
        let role: RedisClusterNode.Role
        switch f["role"]?.string {
        case "master": role = .master
        case "replica", "slave": role = .replica
        default: throw shapeError("CLUSTER SHARDS", "\(what) has no role master/replica")
        }
        var host = f["endpoint"]?.string ?? ""
        if host.isEmpty || host == "?" { host = f["ip"]?.string ?? "" }
        if host.isEmpty || host == "?" { host = connectedHost ?? "" }
        return RedisClusterNode(
            id: id, endpoint: .tcp(host: host, port: Int(port)), role: role,
            health: f["health"]?.string, replicationOffset: f["replication-offset"]?.integer)
    }

    /// A RESP2 flat key/value array as a dictionary (keys are bulk or status strings).
    private static func map(_ reply: RedisReply, _ what: String) throws(RedisError) -> [String: RedisReply] {
        guard let a = reply.array, a.count % 2 == 0 else {
            throw shapeError("CLUSTER SHARDS", "\(what) is not a key/value list: \(reply.prefixDescription)")
        }
        var out: [String: RedisReply] = [:]
        var i = 0
        while i < a.count {
            guard let k = a[i].string else { throw shapeError("CLUSTER SHARDS", "\(what) has a non-text key") }
            out[k] = a[i + 1]
            i += 2
        }
        return out
    }

    private static func shapeError(_ command: String, _ detail: String) -> RedisError {
        RedisError(.protocol, "unexpected \(command) reply: \(detail)")
    }
}

extension RedisReply {
    /// The reply's rendering cut to 80 characters, for error messages.
    fileprivate var prefixDescription: String {
        let d = description
        return d.count <= 80 ? d : String(d.prefix(80)) + "…"
    }
}
