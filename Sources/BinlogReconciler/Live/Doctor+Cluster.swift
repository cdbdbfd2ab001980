extension Doctor {
    /// `[redis] mode = "cluster"`: every seed answers, the cluster says `cluster_state:ok`, all
    /// 16,384 slots are served, and each master's notification and eviction settings.
    func checkRedisCluster() -> [Finding] {
        var out: [Finding] = []
        let base: RedisConfiguration
        let seeds: [RedisConfiguration.Endpoint]
        do {
            base = try configuration.redis.redisConfiguration()
            seeds = try configuration.redis.clusterSeeds()
        } catch {
            return [Finding(check: "redis.cluster", severity: .error, detail: "\(error)", fix: "[redis] nodes = [\"host:port\", ...]")]
        }
        out.append(Finding(check: "redis.cluster.database", severity: .ok, detail: "Redis Cluster has database 0 only: the watched keys are read there", fix: nil))
        for seed in seeds {
            do throws(RedisError) {
                var c = base
                c.endpoint = seed
                _ = try RedisConnection(configuration: c).command(["PING"])
                out.append(Finding(check: "redis.cluster.seed", severity: .ok, detail: "\(seed) answers", fix: nil))
            } catch where error.kind == .authenticationFailed {
                // It answers, and refuses the credentials: no other seed will take them either.
                out.append(Finding(check: "redis.cluster.seed", severity: .error, detail: "\(seed): \(error)", fix: "check [redis] username and password_env / password_file: the ACL user and password apply to every node"))
            } catch {
                out.append(Finding(check: "redis.cluster.seed", severity: .warning, detail: "\(seed): \(error)", fix: "remove it from [redis] nodes or bring it back (any reachable seed is enough)"))
            }
        }
        let cluster: RedisClusterClient
        do { cluster = try RedisClusterClient(seeds: seeds, base: base) } catch {
            return out + [Finding(check: "redis.cluster.connect", severity: .error, detail: "\(error)", fix: "check [redis] nodes, username and password_env; each node must run with cluster-enabled yes")]
        }
        let t = cluster.topology
        if t.isFullyCovered {
            out.append(Finding(check: "redis.cluster.slots", severity: .ok, detail: "all 16384 slots served by \(cluster.masters.count) masters", fix: nil))
        } else {
            let gaps = t.uncoveredSlotRanges.prefix(5).map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
            out.append(Finding(
                check: "redis.cluster.slots", severity: .error,
                detail: "\(RedisClusterSlot.count - t.coveredSlotCount) slots are served by no master (\(gaps)): keys there cannot be read",
                fix: "redis-cli --cluster fix HOST:PORT"))
        }
        for (shard, endpoint) in cluster.masters {
            let replicas = t.shards[shard].replicas.count
            do {
                let conn = try cluster.connection(to: endpoint)
                let info = try conn.command(["CLUSTER", "INFO"]).string ?? ""
                let state = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cluster_state:") }.map { String($0.dropFirst(14)) } ?? "?"
                out.append(state == "ok"
                    ? Finding(check: "redis.cluster.state", severity: .ok, detail: "\(endpoint): cluster_state:ok, \(t.shards[shard].slotCount) slots, \(replicas) replica(s)", fix: nil)
                    : Finding(check: "redis.cluster.state", severity: .error, detail: "\(endpoint): cluster_state:\(state)", fix: "redis-cli --cluster check \(endpoint)"))
                out += nodeSettings(conn, node: "\(endpoint)")
            } catch {
                out.append(Finding(check: "redis.cluster.state", severity: .error, detail: "\(endpoint): \(error)", fix: "the master must answer; redis-cli --cluster check \(endpoint)"))
            }
        }
        return out
    }

    /// One master's notification and eviction settings, as `checkRedis` reports them for one Redis.
    private func nodeSettings(_ conn: RedisConnection, node: String) -> [Finding] {
        var out: [Finding] = []
        if configuration.redis.notifications == .keyspace {
            let events = (try? conn.configGet("notify-keyspace-events"))?["notify-keyspace-events"] ?? ""
            let ok = Self.keyspaceEventsSuffice(events)
            out.append(ok
                ? Finding(check: "redis.notify-keyspace-events", severity: .ok, detail: "\(node): \(events)", fix: nil)
                : Finding(check: "redis.notify-keyspace-events", severity: .warning, detail: "\(node): '\(events)': keyspace notifications are off on this master", fix: "CONFIG SET notify-keyspace-events K$gxe on every master (or enable_keyspace_events = true)"))
        }
        let policy = (try? conn.configGet("maxmemory-policy"))?["maxmemory-policy"] ?? "?"
        if policy.hasPrefix("allkeys") || policy.hasPrefix("volatile"), !configuration.watches.allSatisfy(\.missingIsNormal) {
            out.append(Finding(check: "redis.maxmemory-policy", severity: .warning, detail: "\(node): \(policy): Redis may evict watched keys; each eviction is reported as missing", fix: "missing_is_normal = true on cache-aside watches, or CONFIG SET maxmemory-policy noeviction"))
        }
        return out
    }
}
