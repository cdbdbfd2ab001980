import BinlogReconciler
import Foundation

/// The simulator's Redis: one server, or a Redis Cluster (`[redis] mode = "cluster"`) where every
/// key command goes to the master serving the key's slot through ``RedisClusterClient``, which
/// follows `MOVED` / `ASK` / `TRYAGAIN` / `CLUSTERDOWN` (a reshard or a failover during the sale),
/// or the primary of a Sentinel-monitored master (`mode = "sentinel"`) through
/// ``RedisSentinelClient``, which asks the sentinels again every 0.5 s and on `READONLY` or a lost
/// connection (a failover during the sale). Used by one thread at a time.
final class SaleRedis {
    private enum Target {
        case single(RedisConnection)
        case cluster(RedisClusterClient)
        case sentinel(RedisSentinelClient)
    }
    private let target: Target

    /// Connects to the server, or (with seeds) reads the cluster's slot map from the first seed
    /// that answers, or (with `sentinel`) connects to the primary a quorum of the sentinels names.
    init(configuration: RedisConfiguration, clusterSeeds: [RedisConfiguration.Endpoint], sentinel: SaleSentinel? = nil) throws(RedisError) {
        if let sentinel {
            let resolver = RedisSentinelResolver(sentinels: sentinel.sentinels, masterName: sentinel.masterName, sentinelBase: sentinel.sentinelBase)
            target = .sentinel(try RedisSentinelClient(resolver: resolver, dataBase: configuration))
        } else {
            target = clusterSeeds.isEmpty
                ? .single(try RedisConnection(configuration: configuration))
                : .cluster(try RedisClusterClient(seeds: clusterSeeds, base: configuration))
        }
    }

    var isCluster: Bool {
        if case .cluster = target { return true }
        return false
    }

    /// One command about `key` (on a cluster: on its slot's master, redirections followed; with
    /// Sentinel: on the primary now). Only for commands that are safe to repeat (GET, SET, DEL): on
    /// a cluster or with Sentinel a command whose reply was lost is sent again.
    func command(key: String, _ args: [String]) throws(RedisError) -> RedisReply {
        switch target {
        case .single(let c):
            return try c.command(args)
        case .sentinel(let s):
            return try s.withPrimary(.default) { c throws(RedisError) in try c.command(args) }
        case .cluster(let cluster):
            return try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: args.first ?? "") { c, _ throws(RedisError) in
                try c.command(args)
            }
        }
    }

    /// The order's pre-deduct (Lua `EVAL`, never `EVALSHA`: a replica promoted by a failover has no
    /// script loaded by `SCRIPT LOAD`): the new stock, -1 when the key is absent, -2 when the stock
    /// is short. `believed` is the simulator's value of the key (only its generator thread writes
    /// the stock keys): on a cluster or with Sentinel, when a connection broke after the script was
    /// sent, the retry first reads the key and takes `believed - qty` for "it ran", so an order is
    /// never applied twice. (`READONLY` from a demoted primary means the script's write did not run.)
    func preDeduct(key: String, qty: Int, believed: Int?) throws(RedisError) -> Int {
        let args = ["EVAL", FlashSale.preDeduct, "1", key, String(qty)]
        var uncertain = false
        func attempt(_ c: RedisConnection, asking: Bool) throws(RedisError) -> Int {
            if uncertain, !asking, let b = believed, b >= qty {
                let now = try c.command(["GET", key]).string.flatMap { Int($0) }
                if now == b - qty { return b - qty }
            }
            do throws(RedisError) {
                return try c.command(args).integer.map { Int($0) } ?? -1
            } catch where error.isRetryable {
                uncertain = true
                throw error
            }
        }
        switch target {
        case .single(let c):
            return try c.command(args).integer.map { Int($0) } ?? -1
        case .cluster(let cluster):
            return try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: "EVAL") { c, asking throws(RedisError) in
                try attempt(c, asking: asking)
            }
        case .sentinel(let s):
            return try s.withPrimary(.default) { c throws(RedisError) in try attempt(c, asking: false) }
        }
    }

    /// SETs every pair (pipelined in batches of 1,000; on a cluster by master, and one at a time
    /// through the redirections for the keys whose slot moved meanwhile).
    func setAll(_ pairs: [(key: String, value: String)]) throws(RedisError) {
        let replies = try each(pairs.map { ["SET", $0.key, $0.value] }, keys: pairs.map(\.key))
        for reply in replies where reply.errorMessage != nil {
            throw RedisError(.server, "Redis SET: \(reply)", serverMessage: reply.errorMessage)
        }
    }

    /// GETs every key (nil when absent).
    func getAll(_ keys: [String]) throws(RedisError) -> [String?] {
        switch target {
        case .single(let c):
            return try c.mget(keys: keys)
        case .sentinel(let s):
            return try s.withPrimary(.default) { c throws(RedisError) in try c.mget(keys: keys) }
        case .cluster:
            return try each(keys.map { ["GET", $0] }, keys: keys).map(\.string)
        }
    }

    /// Runs one key command per key, pipelined, and returns the replies in order.
    private func each(_ commands: [[String]], keys: [String]) throws(RedisError) -> [RedisReply] {
        func batches(_ c: RedisConnection) throws(RedisError) -> [RedisReply] {
            var replies: [RedisReply] = []
            var start = 0
            while start < commands.count {
                let end = min(start + 1000, commands.count)
                replies += try c.pipeline(Array(commands[start..<end]))
                start = end
            }
            return replies
        }
        switch target {
        case .single(let c):
            return try batches(c)
        case .sentinel(let s):
            // Every batch again after a failover: the commands are SETs and GETs, safe to repeat.
            return try s.withPrimary(.default) { c throws(RedisError) in try batches(c) }
        case .cluster(let cluster):
            var replies = [RedisReply?](repeating: nil, count: commands.count)
            var byMaster: [RedisConfiguration.Endpoint: [Int]] = [:]
            for (i, key) in keys.enumerated() {
                if let m = cluster.topology.master(forSlot: RedisClusterSlot.slot(of: key)) { byMaster[m.endpoint, default: []].append(i) }
            }
            for (endpoint, indices) in byMaster {
                var start = 0
                while start < indices.count {
                    let batch = Array(indices[start..<min(start + 1000, indices.count)])
                    start += batch.count
                    guard let got = try? cluster.connection(to: endpoint).pipeline(batch.map { commands[$0] }) else { continue }
                    for (i, reply) in zip(batch, got) where reply.errorMessage == nil { replies[i] = reply }
                }
            }
            // Keys whose pipeline failed or answered an error (MOVED, ASK, TRYAGAIN): one at a time.
            for i in replies.indices where replies[i] == nil {
                replies[i] = try command(key: keys[i], commands[i])
            }
            return replies.compactMap { $0 }
        }
    }

    /// On a cluster: the redirections followed and the slot-map reads so far; with Sentinel: the
    /// primary switches (nil on one server).
    var redirections: String? {
        switch target {
        case .single: return nil
        case .cluster(let c): return "Redis Cluster: MOVED \(c.movedRedirects), ASK \(c.askRedirects), slot map read again \(c.refreshes) times"
        case .sentinel(let s): return "Redis Sentinel: \(s.switches) primary switch(es), primary now \(s.primary)"
        }
    }

    func close() {
        switch target {
        case .single(let c): c.close()
        case .cluster(let cluster): cluster.close()
        case .sentinel(let s):
            s.connection.close()
            s.resolver.close()
        }
    }
}
