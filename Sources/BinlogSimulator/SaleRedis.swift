import BinlogReconciler
import Foundation

/// The simulator's Redis: one server, or a Redis Cluster (`[redis] mode = "cluster"`) where every
/// key command goes to the master serving the key's slot through ``RedisClusterClient``, which
/// follows `MOVED` / `ASK` / `TRYAGAIN` / `CLUSTERDOWN` (a reshard or a failover during the sale).
/// Used by one thread at a time.
final class SaleRedis {
    private enum Target {
        case single(RedisConnection)
        case cluster(RedisClusterClient)
    }
    private let target: Target

    /// Connects to the server, or (with seeds) reads the cluster's slot map from the first seed that answers.
    init(configuration: RedisConfiguration, clusterSeeds: [RedisConfiguration.Endpoint]) throws(RedisError) {
        target = clusterSeeds.isEmpty
            ? .single(try RedisConnection(configuration: configuration))
            : .cluster(try RedisClusterClient(seeds: clusterSeeds, base: configuration))
    }

    var isCluster: Bool {
        if case .cluster = target { return true }
        return false
    }

    /// One command about `key` (on a cluster: on its slot's master, redirections followed). Only
    /// for commands that are safe to repeat (GET, SET, DEL): on a cluster a command whose reply was
    /// lost is sent again.
    func command(key: String, _ args: [String]) throws(RedisError) -> RedisReply {
        switch target {
        case .single(let c):
            return try c.command(args)
        case .cluster(let cluster):
            return try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: args.first ?? "") { c, _ throws(RedisError) in
                try c.command(args)
            }
        }
    }

    /// The order's pre-deduct (Lua `EVAL`, never `EVALSHA`: a replica promoted by a failover has no
    /// script loaded by `SCRIPT LOAD`): the new stock, -1 when the key is absent, -2 when the stock
    /// is short. `believed` is the simulator's value of the key (only its generator thread writes
    /// the stock keys): on a cluster, when a connection broke after the script was sent, the retry
    /// first reads the key and takes `believed - qty` for "it ran", so an order is never applied twice.
    func preDeduct(key: String, qty: Int, believed: Int?) throws(RedisError) -> Int {
        let args = ["EVAL", FlashSale.preDeduct, "1", key, String(qty)]
        switch target {
        case .single(let c):
            return try c.command(args).integer.map { Int($0) } ?? -1
        case .cluster(let cluster):
            var uncertain = false
            return try cluster.withSlotOwner(RedisClusterSlot.slot(of: key), doing: "EVAL") { c, asking throws(RedisError) in
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
        case .cluster:
            return try each(keys.map { ["GET", $0] }, keys: keys).map(\.string)
        }
    }

    /// Runs one key command per key, pipelined, and returns the replies in order.
    private func each(_ commands: [[String]], keys: [String]) throws(RedisError) -> [RedisReply] {
        switch target {
        case .single(let c):
            var replies: [RedisReply] = []
            var start = 0
            while start < commands.count {
                let end = min(start + 1000, commands.count)
                replies += try c.pipeline(Array(commands[start..<end]))
                start = end
            }
            return replies
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

    /// On a cluster: the redirections followed and the slot-map reads so far (nil on one server).
    var redirections: String? {
        guard case .cluster(let c) = target else { return nil }
        return "MOVED \(c.movedRedirects), ASK \(c.askRedirects), slot map read again \(c.refreshes) times"
    }

    func close() {
        switch target {
        case .single(let c): c.close()
        case .cluster(let cluster): cluster.close()
        }
    }
}
