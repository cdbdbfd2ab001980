extension ReconcilerConfiguration {
    /// `[redis] mode`, `nodes`, `sentinels`, `master_name`, the sentinels' credentials and
    /// `read_from`, checked against each other and against `host`/`port`/`socket`/`database`.
    static func readTopology(_ r: inout Reader, into redis: inout RedisSettings, env: [String: String]) throws(ConfigurationError) {
        if let m = try r.string("mode") {
            guard let mode = RedisSettings.Mode(rawValue: m) else {
                throw r.error("mode", "\(m) is not one of standalone, cluster, sentinel")
            }
            redis.mode = mode
        }
        redis.nodes = try addresses(&r, "nodes")
        redis.sentinels = try addresses(&r, "sentinels")
        redis.masterName = try r.string("master_name")
        redis.sentinelUsername = try r.string("sentinel_username")
        redis.sentinelPassword = try Secret.read(&r, env: env, prefix: "sentinel_")
        if let f = try r.string("read_from") {
            guard let v = RedisSettings.ReadFrom(rawValue: f) else { throw r.error("read_from", "\(f) is not one of master, replica") }
            redis.readFrom = v
        }
        let placed = ["host", "port", "socket"].filter { r.t[$0] != nil }
        switch redis.mode {
        case .standalone:
            for k in ["nodes", "sentinels", "master_name", "sentinel_username"] where r.t[k] != nil {
                throw r.error(k, "only with mode = \"\(k == "nodes" ? "cluster" : "sentinel")\" (mode is standalone)")
            }
            if redis.readFrom == .replica {
                throw r.error("read_from", "replica reads need mode = \"cluster\" or \"sentinel\" (a standalone Redis has no replicas the reconciler knows of)")
            }
        case .cluster:
            guard !redis.nodes.isEmpty else { throw r.missing("nodes", "mode = \"cluster\": the seed nodes, e.g. nodes = [\"10.0.0.1:7000\"]") }
            if let k = placed.first { throw r.error(k, "not with mode = \"cluster\": give the seed nodes in nodes = [...]") }
            if redis.database != 0 {
                throw r.error("database", "Redis Cluster has database 0 only (got \(redis.database))")
            }
            for k in ["sentinels", "master_name", "sentinel_username"] where r.t[k] != nil {
                throw r.error(k, "only with mode = \"sentinel\" (mode is cluster)")
            }
        case .sentinel:
            guard !redis.sentinels.isEmpty else { throw r.missing("sentinels", "mode = \"sentinel\": the sentinel addresses") }
            guard redis.masterName != nil else { throw r.missing("master_name", "mode = \"sentinel\": the name the sentinels monitor") }
            if let k = placed.first { throw r.error(k, "not with mode = \"sentinel\": the primary comes from the sentinels") }
            if r.t["nodes"] != nil { throw r.error("nodes", "only with mode = \"cluster\" (mode is sentinel)") }
        }
    }

    /// A list of `host:port` strings.
    private static func addresses(_ r: inout Reader, _ k: String) throws(ConfigurationError) -> [String] {
        guard let list = try r.stringOrStrings(k) else { return [] }
        for a in list where RedisSettings.endpoint(a) == nil {
            throw r.error(k, "\(a) is not host:port")
        }
        return list
    }
}
