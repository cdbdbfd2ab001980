import ReconcilerCore

// MARK: - RedisClusterClient

/// The reconciler's connections to a Redis Cluster: the slot map and one connection per master,
/// opened when first used. Used by one thread at a time (the reconcile loop).
///
/// Every key command goes through ``withSlotOwner(_:doing:_:)``: it runs on the master that the
/// map says serves the slot, and
/// - `MOVED` → the map is read again and the command retried on the new owner;
/// - `ASK` → the command is sent once more on the target after `ASKING`;
/// - `TRYAGAIN` / `CLUSTERDOWN`, or a node that cannot be reached → a pause (the retry policy's
///   backoff), the map read again, then a retry.
/// A command that failed in any of these ways returned nothing to its caller, so a read that
/// raced a migration or a failover is never taken for an observation.
package final class RedisClusterClient {
    /// Credentials and timeouts of every node (the endpoint is replaced per node).
    package let base: RedisConfiguration
    package let seeds: [RedisConfiguration.Endpoint]
    package private(set) var topology: RedisClusterTopology
    /// Times the map was read again after a redirect or a failure (for metrics and tests).
    package private(set) var refreshes = 0
    /// Redirections followed, by kind.
    package private(set) var movedRedirects = 0
    package private(set) var askRedirects = 0
    /// Redirections followed, by the node they sent the command to (`host:port`).
    package private(set) var redirectsByNode: [String: (moved: Int, ask: Int)] = [:]
    private var connections: [RedisConfiguration.Endpoint: RedisConnection] = [:]
    private let policy: RedisRetryPolicy
    /// Reads on the masters' replicas (`read_from = "replica"`), when set.
    package var replicaPool: RedisReplicaPool?

    /// Connects to the first seed that answers and reads the slot map from it.
    /// - Throws: the last seed's error when none answers; `.server` when a seed is not in
    ///   cluster mode; `.protocol` when the map does not cover all 16,384 slots is NOT an error
    ///   here (``topology`` says so; `doctor` reports it).
    package init(
        seeds: [RedisConfiguration.Endpoint], base: RedisConfiguration, policy: RedisRetryPolicy = .default
    ) throws(RedisError) {
        guard !seeds.isEmpty else { throw RedisError(.notConfigured, "Redis Cluster: no seed nodes ([redis] nodes)") }
        self.base = base
        self.seeds = seeds
        self.policy = policy
        var lastError = RedisError(.connectionFailed, "Redis Cluster: no seed answered")
        var found: (RedisClusterTopology, RedisConfiguration.Endpoint, RedisConnection)?
        for seed in seeds {
            do throws(RedisError) {
                let conn = try RedisConnection(configuration: Self.configuration(base, seed))
                found = (try conn.clusterTopology(), seed, conn)
                break
            } catch {
                if error.kind == .server || error.kind == .authenticationFailed { throw error }
                lastError = error
            }
        }
        guard let (topology, seed, conn) = found else { throw lastError }
        self.topology = topology
        connections[seed] = conn
    }

    static func configuration(_ base: RedisConfiguration, _ endpoint: RedisConfiguration.Endpoint) -> RedisConfiguration {
        var c = base
        c.endpoint = endpoint
        c.database = 0
        return c
    }

    /// The connection to `endpoint`, opened now if there is none.
    package func connection(to endpoint: RedisConfiguration.Endpoint) throws(RedisError) -> RedisConnection {
        if let c = connections[endpoint] { return c }
        let c = try RedisConnection(configuration: Self.configuration(base, endpoint))
        connections[endpoint] = c
        return c
    }

    /// The masters that serve slots, in slot order, as (shard index, endpoint).
    package var masters: [(shard: Int, endpoint: RedisConfiguration.Endpoint)] {
        topology.shards.indices.compactMap { i in
            topology.shards[i].slotRanges.isEmpty ? nil : (i, topology.shards[i].master.endpoint)
        }
    }

    /// Reads the slot map again from a known master or a seed (the first that answers).
    package func refresh() throws(RedisError) {
        refreshes += 1
        var candidates = topology.shards.map(\.master.endpoint)
        for s in seeds where !candidates.contains(s) { candidates.append(s) }
        var lastError = RedisError(.connectionFailed, "Redis Cluster: no node answered CLUSTER SHARDS")
        for endpoint in candidates {
            do throws(RedisError) {
                let conn = try connection(to: endpoint)
                let t = try conn.withRetry(Self.once) { c throws(RedisError) in try c.clusterTopology() }
                topology = t
                // Connections to nodes that are no longer masters are closed (a demoted master
                // would answer MOVED anyway).
                let live = Set(t.shards.map(\.master.endpoint))
                for e in connections.keys where !live.contains(e) {
                    connections[e] = nil
                    replicaPool?.forgetMaster(e)
                }
                return
            } catch {
                connections[endpoint] = nil
                lastError = error
            }
        }
        throw lastError
    }

    /// Runs `body` on the master serving `slot` and follows the cluster's redirections (see the
    /// type's description). `body` gets the connection and whether `ASKING` was just sent on it
    /// (then only the first command of `body` may touch the migrating slot).
    package func withSlotOwner<T>(
        _ slot: Int, doing what: String, _ body: (RedisConnection, _ asking: Bool) throws(RedisError) -> T
    ) throws(RedisError) -> T {
        var attempt = 1
        var ask: RedisConfiguration.Endpoint?
        while true {
            do throws(RedisError) {
                if let target = ask {
                    ask = nil
                    let conn = try connection(to: target)
                    _ = try conn.command(["ASKING"])
                    return try body(conn, true)
                }
                guard let owner = topology.master(forSlot: slot) else {
                    throw RedisError(.server, "\(what): no master of the Redis Cluster serves slot \(slot) (CLUSTERDOWN)", serverMessage: "CLUSTERDOWN Hash slot not served")
                }
                let conn = try connection(to: owner.endpoint)
                return try conn.withRetry(Self.once) { c throws(RedisError) in try body(c, false) }
            } catch {
                guard attempt < policy.maxAttempts else { throw error }
                if case .redirect(let r) = Self.classify(error), r.kind == .ask {
                    askRedirects += 1
                    ask = resolved(r).target
                    redirectsByNode["\(resolved(r).target)", default: (0, 0)].ask += 1
                } else {
                    try recover(from: error, attempt: attempt)
                }
                attempt += 1
            }
        }
    }

    /// Gets ready to try again after `error` (the `attempt`-th failure of a command): `MOVED`
    /// patches the map (or reads it again); `ASK`, `TRYAGAIN`, `CLUSTERDOWN` and a node that
    /// cannot be reached wait the retry policy's backoff and read the map again (a migration
    /// that ends turns `ASK` into `MOVED`; a failover promotes a replica).
    /// - Throws: `error` itself when it is not about the cluster (a script error, `CROSSSLOT`,
    ///   authentication).
    package func recover(from error: RedisError, attempt: Int) throws(RedisError) {
        switch Self.classify(error) {
        case .redirect(let r):
            let redirect = resolved(r)
            if redirect.kind == .moved {
                // The whole map is read again, not just this slot patched: a MOVED is usually one
                // of many (a reshard moves hundreds of slots), and one read of CLUSTER SHARDS
                // costs less than a failed read per slot.
                movedRedirects += 1
                redirectsByNode["\(redirect.target)", default: (0, 0)].moved += 1
                if (try? refresh()) == nil { _ = topology.apply(redirect) }
            } else {
                askRedirects += 1
                redirectsByNode["\(redirect.target)", default: (0, 0)].ask += 1
                sleepFor(policy.delay(afterAttempt: attempt))
                try? refresh()
            }
        case .tryAgain, .clusterDown, .unreachable:
            sleepFor(policy.delay(afterAttempt: attempt))
            try? refresh()
        case .fatal:
            throw error
        }
    }

    /// A redirect whose empty host (`MOVED 3999 :6381`) is the seed's host.
    private func resolved(_ r: RedisClusterRedirect) -> RedisClusterRedirect {
        if case .tcp(let host, _) = base.endpoint { return r.resolvingEmptyHost(host) }
        if case .tcp(let host, _)? = seeds.first { return r.resolvingEmptyHost(host) }
        return r
    }

    /// One attempt (reconnecting first when the connection is closed); retries are this type's.
    package static let once = RedisRetryPolicy(maxAttempts: 1)

    enum Failure {
        case redirect(RedisClusterRedirect)
        case tryAgain, clusterDown, unreachable, fatal
    }

    /// What a failed command says about the cluster.
    static func classify(_ error: RedisError) -> Failure {
        if error.isRetryable { return .unreachable }
        guard error.kind == .server, let message = error.serverMessage else { return .fatal }
        switch RedisClusterErrorClass(errorMessage: message) {
        case .redirect(let r): return .redirect(r)
        case .tryAgain: return .tryAgain
        case .clusterDown: return .clusterDown
        case .crossSlot, .other: return .fatal
        }
    }

    /// Closes every connection.
    package func close() { connections.removeAll() }
}

extension RedisClusterClient {
    /// One master as the cluster watch polls it.
    package struct MasterStatus: Sendable, Hashable {
        package var shard: Int
        package var endpoint: RedisConfiguration.Endpoint
        package var nodeID: String
        package var slotRanges: [ClosedRange<Int>]
        /// `run_id` and the key count of database 0 (INFO server / keyspace); nil when the master
        /// did not answer.
        package var runID: String?
        package var keys: Int?
    }

    /// Every master of the current map with its `run_id` and key count (one pipelined
    /// `INFO server` + `INFO keyspace` each). A master that does not answer has nil for both; the
    /// map is read again afterwards in that case (a failover promotes its replica).
    package func pollMasters() -> [MasterStatus] {
        var out: [MasterStatus] = []
        var unreachable = false
        for (shard, endpoint) in masters {
            let s = topology.shards[shard]
            var status = MasterStatus(shard: shard, endpoint: endpoint, nodeID: s.master.id, slotRanges: s.slotRanges)
            do {
                let replies = try connection(to: endpoint).withRetry(Self.once) { c throws(RedisError) in
                    try c.pipeline([["INFO", "server"], ["INFO", "keyspace"]])
                }
                if replies.count == 2, let server = replies[0].string, let keyspace = replies[1].string,
                    let info = RedisWatchdog.parse(server: server, keyspace: keyspace, database: 0) {
                    status.runID = info.runID
                    status.keys = info.keys
                }
            } catch {
                unreachable = true
            }
            out.append(status)
        }
        if unreachable { try? refresh() }
        return out
    }
}
